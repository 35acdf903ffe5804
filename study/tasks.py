"""Task names -> runner configs.

A task is a dataset (vision, the papers' ConvNet), `<dataset>-<model>` for another vision model
(e.g. `cifar10-resnet20`), or `glue-<task>` (T5 on GLUE). Each task also names the paper whose
fixed hyperparameters form its `paper` phase.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from search_spaces.registry import BUILT_IN
from study.errors import SpecError, did_you_mean

VISION_MODELS = ("convnet", "resnet20", "resnet56", "vit")  # kept equal to runners.models.MODELS (tested)
GLUE_TASKS = ("cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte")
THERMOLION_DATASETS = (
    "mnist", "fashion_mnist", "kmnist", "emnist", "qmnist", "usps", "semeion",
    "cifar10", "cifar100", "svhn", "stl10", "gtsrb",
)
OFFLINE_DATASETS = ("digits", "synthetic", "mnist5k")  # with the above: runners.vision_data.DATASETS (tested)
# Runner keys a study's task_config may set (kept equal to the runners' own lists: tested), so a
# typo stops the spec instead of reaching optim.build as an unknown hyperparameter in every trial.
RUNNER_KEYS = {
    "vision": ("device", "data_dir", "n_train", "amp", "schedule", "diagnostics", "batch_size", "eval_each_epoch",
               "compile_optimizer"),
    "glue": ("model", "device", "data_dir", "data_files", "cache_dir", "n_train", "n_val", "amp", "schedule",
             "warmup_steps", "steps", "eval_every", "grad_accum", "max_length", "eval_batch_size",
             "diagnostics", "batch_size", "selection", "checkpoint_every"),
}

# task_config keys the study itself reads (never passed to the runner): the GLUE paper phase's
# steps (default the paper's 50,000; fewer for a smoke run).
STUDY_KEYS = {"vision": (), "glue": ("paper_steps",)}


@dataclass(frozen=True)
class Task:
    name: str
    runner: str  # "vision" | "glue"
    config: dict  # runner keys that the task name fixes (dataset and model for vision)
    defaults: dict  # runner keys the task_config may override (glue: the paper's T5-Base)
    paper: str | None  # whose paper point the `paper` phase uses: "thermolion" | "sepnorm" (None: no paper)
    paper_protocols: tuple[str, ...]  # protocols the paper phase runs under
    origin: str = BUILT_IN  # or the plugin that registered it (shown by `list`)


_TASKS: dict[str, Task] = {}  # every task: the built-ins below, then plugins' (study.plugins)


def register(task: Task) -> None:
    """Add a task (built-ins here; plugins through study.plugins). The one place a task name is
    decided: one already taken raises ``ValueError`` naming the origin of the task holding it."""
    held = _TASKS.get(task.name)
    if held is not None:
        raise ValueError(f"{_kind(task)} {task.name!r} collides with the {held.origin} {_kind(held)} of that name")
    if task.name in RUNNER_KEYS:  # vision, glue: a task of that name would read as that runner (unregister too)
        raise ValueError(f"task {task.name!r} collides with the {BUILT_IN} runner of that name")
    _TASKS[task.name] = task


def register_runner(name: str, keys: Iterable[str], origin: str) -> None:
    """Add a plugin's kind of task, ``name``, with the runner keys its task_config may set, and its
    one task of that name; a name taken by a task or a built-in runner raises ``ValueError``."""
    if name in RUNNER_KEYS and name not in _TASKS:  # vision, glue
        raise ValueError(f"runner {name!r} collides with the {BUILT_IN} runner of that name")
    keys = tuple(keys)
    register(Task(name, name, {}, {}, None, (), origin))
    RUNNER_KEYS[name] = keys
    STUDY_KEYS[name] = ()  # no study-level task_config keys (GLUE's paper_steps is the built-ins')


def unregister(name: str) -> None:
    """Remove a plugin's task, and its runner if it is one (a plugin whose loading failed half-way; tests)."""
    task = _TASKS.get(name)
    if task is None or task.origin == BUILT_IN:
        return
    del _TASKS[name]
    if task.runner == name:
        del RUNNER_KEYS[name], STUDY_KEYS[name]


def _kind(task: Task) -> str:
    """``runner`` for a plugin runner's own task (named as its runner), else ``task``."""
    return "runner" if task.runner == task.name else "task"


def _register_builtins() -> None:
    """The papers' datasets and the offline ones with each vision model (`<dataset>` is the paper
    ConvNet; others take the SepNorm paper's fair protocol only), and T5 on each GLUE task."""
    for dataset in THERMOLION_DATASETS + OFFLINE_DATASETS:
        for model in VISION_MODELS:
            name = dataset if model == "convnet" else f"{dataset}-{model}"
            paper = "thermolion" if model == "convnet" else "sepnorm"
            protocols = ("paper", "fair") if paper == "thermolion" else ("fair",)
            register(Task(name, "vision", {"dataset": dataset, "model": model}, {}, paper, protocols))
    for glue_task in GLUE_TASKS:
        register(Task(f"glue-{glue_task}", "glue", {}, {"model": "t5-base"}, "sepnorm", ("paper", "fair")))


_register_builtins()


def task_names() -> list[str]:
    """Every valid task name (for "did you mean")."""
    return list(_TASKS)


def parse_task(name: str) -> Task:
    """Resolve a task name, or raise SpecError naming it."""
    if name in _TASKS:
        return _TASKS[name]
    if name.startswith("glue-"):
        raise SpecError(f"unknown task {name!r}{did_you_mean(name, task_names())}: GLUE tasks are "
                        f"{', '.join('glue-' + t for t in GLUE_TASKS)}")
    datasets = THERMOLION_DATASETS + OFFLINE_DATASETS
    raise SpecError(
        f"unknown task {name!r}{did_you_mean(name, task_names())}: a task is a dataset ({', '.join(datasets)}), "
        f"optionally '-<model>' ({', '.join(VISION_MODELS)}), glue-<task>, or a plugin's task"
    )


def runner_config(task: Task, task_config: dict) -> dict:
    """The runner keys of a task's trials: its defaults, the study's task_config keys that its
    runner takes, then what the task name fixes."""
    own = {k: v for k, v in task_config.items() if k in RUNNER_KEYS[task.runner]}
    return {**task.defaults, **own, **task.config}
