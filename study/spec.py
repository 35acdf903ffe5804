"""The study spec: one typed, validated object from a preset or YAML file plus CLI overrides.

Every check happens here, before Ray starts or anything is written, and a bad field raises
`SpecError` with one line that names it.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

import search_spaces
from study import plugins
from study.errors import SpecError, did_you_mean
from study.presets import PRESETS
from study.rounds import seed_range
from study.tasks import RUNNER_KEYS, STUDY_KEYS, parse_task, task_names

PHASES = ("tune", "confirm", "default", "paper")
TRACKERS = ("mlflow", "wandb", "tensorboard")
PATH_KEYS = ("data_dir", "cache_dir")  # runner keys holding a local path (and data_files' values)


@dataclass
class StudySpec:
    """Everything a study needs; YAML keys and CLI flags have these names."""

    preset: str = "quick"
    name: str | None = None
    tasks: list[str] = field(default_factory=lambda: ["digits"])
    optimizers: list[str] = field(default_factory=lambda: ["adamw", "lion"])
    trials: int = 6  # N: tune trials per cell, equal for every cell
    iid_trials: int = 4  # R: the first R tune trials of a cell are i.i.d. draws
    seeds: int = 2  # S: fresh seeds for the confirm, default and paper phases (with seeds_max: the minimum)
    seeds_max: int | None = None  # `seeds: auto` / {min, max}: rounds add seeds to undecided claims up to this
    paper_seeds: int | None = None  # seeds of the paper phase (None: `seeds`); its runs take the paper's budget
    epochs: int = 3  # training budget per trial (vision epochs; glue eval intervals)
    phases: list[str] = field(default_factory=lambda: list(PHASES))
    seed: int = 0  # seeds the samplers and the tune trials; fixed-phase seeds start at 1000
    storage: str = "studies"
    address: str | None = None
    cpus_per_trial: float | None = None  # None: sized from the cluster
    gpus_per_trial: float | None = None  # None: 1 GPU per trial if the cluster has GPUs, else 0
    max_concurrent: int | None = None
    bundle: int | None = None  # configurations per Ray trial (study/bundles.py); None: sized automatically
    storage_is_shared: bool = False  # the user asserts --storage is visible to every node
    max_failures: int = 2  # retries of a crashed trial
    fault_rate: float = 0.0  # probability that a trial crashes on its first attempt (tests)
    trial_timeout: float | None = None  # seconds; a trial past it stops and is recorded status=timeout
    log_to: list[str] = field(default_factory=list)  # experiment trackers: mlflow, wandb, tensorboard
    task_config: dict = field(default_factory=dict)  # extra runner keys for every task
    search_space: dict = field(default_factory=dict)  # per-optimizer search-space overrides
    ladder: list | str | None = None  # protocol ladder rungs (study.ladder), or `default`
    plugins: list[str] = field(default_factory=list)  # plugin files / modules (study.plugins); entry points load anyway
    claims: str | None = None  # the user's claims file (the columns of reports/data/claims.csv)

    @property
    def studies_root(self) -> Path:
        """The folder of study directories: --storage, or ./studies for a URI storage."""
        return Path(os.path.abspath("studies")) if is_uri(self.storage) else Path(self.storage)

    @property
    def study_dir(self) -> Path:
        """Where this study's records and report go."""
        return self.studies_root / self.name

    @property
    def ray_storage(self) -> str:
        """Ray Tune's storage_path for this study's trials (absolute path or URI)."""
        return f"{self.storage.rstrip('/')}/{self.name}/ray" if is_uri(self.storage) else str(self.study_dir / "ray")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in dataclasses.fields(StudySpec)}


def load_yaml(path: str) -> dict:
    """Read a YAML config into a dict of spec fields (no validation yet)."""
    file = Path(path)
    if not file.is_file():
        raise SpecError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise SpecError(f"config file {path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpecError(f"config file {path} must hold a mapping of study fields, not {type(data).__name__}")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def build_spec(preset: str | None = None, config_file: str | None = None, overrides: dict | None = None) -> StudySpec:
    """preset (default `quick`) <- YAML file <- CLI overrides, then validate."""
    values: dict = {}
    from_file = load_yaml(config_file) if config_file else {}
    preset = preset or from_file.pop("preset", None) or "quick"
    from_file.pop("preset", None)
    if preset not in PRESETS:
        raise SpecError(f"unknown preset {preset!r}{did_you_mean(preset, PRESETS)}; presets: {', '.join(PRESETS)}")
    values.update(PRESETS[preset])
    values["preset"] = preset
    for source, label in ((from_file, f"config file {config_file}"), (overrides or {}, "command line")):
        for key, value in source.items():
            if key not in FIELDS:
                raise SpecError(f"unknown key {key!r}{did_you_mean(key, FIELDS)} in {label}; known keys: {', '.join(FIELDS)}")
            if value is not None:
                values[key] = value
    auto = PRESETS[preset].get("seeds")
    if isinstance(auto, dict) and values["seeds"] is auto and "confirm" not in _names("phases", values.get("phases", list(PHASES))):
        values["seeds"] = auto["min"]  # a preset's auto seeds decide claims in confirm: without it, its minimum
    return validate(StudySpec(**values))


def _positive_int(name: str, value, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        else:
            raise SpecError(f"{name} must be an integer, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise SpecError(f"{name} must be {'>= 0' if allow_zero else 'positive'}, got {value}")
    return value


def _names(name: str, value) -> list[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{name} must be a non-empty list of names, got {value!r}")
    return list(dict.fromkeys(value))


def _optional_number(name: str, value, minimum: float = 0.0):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise SpecError(f"{name} must be a number >= {minimum}, got {value!r}")
    return value


def validate(spec: StudySpec) -> StudySpec:
    """Check every field; normalize names, counts and paths. Raises SpecError."""
    spec.plugins = [] if spec.plugins in (None, "", []) else _names("plugins", spec.plugins)
    spec.plugins = [plugins.load(source)["source"] for source in spec.plugins]  # normalized: absolute paths
    plugins.load_entry_points()
    spec.tasks = _names("tasks", spec.tasks)
    for task in spec.tasks:
        parse_task(task)
        plugins.check_task(task)
    spec.optimizers = _names("optimizers", spec.optimizers)
    known = search_spaces.names()
    for opt in spec.optimizers:
        if opt not in known:
            raise SpecError(f"unknown optimizer {opt!r}{did_you_mean(opt, known)}; optimizers: {', '.join(known)}")
        plugins.check_optimizer(opt)
    spec.trials = _positive_int("trials", spec.trials)
    spec.iid_trials = _positive_int("iid_trials", spec.iid_trials, allow_zero=True)
    if spec.iid_trials > spec.trials:
        spec.iid_trials = spec.trials
    spec.seeds, spec.seeds_max = seed_range(spec.seeds, spec.seeds_max, _names("phases", spec.phases))
    spec.seeds = _positive_int("seeds", spec.seeds)
    if spec.paper_seeds is not None:
        spec.paper_seeds = _positive_int("paper_seeds", spec.paper_seeds)
    spec.epochs = _positive_int("epochs", spec.epochs)
    spec.seed = _positive_int("seed", spec.seed, allow_zero=True)
    spec.max_failures = _positive_int("max_failures", spec.max_failures, allow_zero=True)
    if spec.max_concurrent is not None:
        spec.max_concurrent = _positive_int("max_concurrent", spec.max_concurrent)
    if spec.bundle is not None:
        spec.bundle = _positive_int("bundle", spec.bundle)
    spec.phases = _names("phases", spec.phases)
    for phase in spec.phases:
        if phase not in PHASES:
            raise SpecError(f"unknown phase {phase!r}{did_you_mean(phase, PHASES)}; phases: {', '.join(PHASES)}")
    spec.cpus_per_trial = _optional_number("cpus_per_trial", spec.cpus_per_trial, 0.01)
    spec.gpus_per_trial = _optional_number("gpus_per_trial", spec.gpus_per_trial, 0.0)
    if spec.gpus_per_trial is not None and spec.gpus_per_trial > 1:
        raise SpecError(f"gpus_per_trial must be <= 1 (a trial trains on one device), got {spec.gpus_per_trial:g}")
    spec.trial_timeout = _optional_number("trial_timeout", spec.trial_timeout, 1.0)
    spec.log_to = [] if spec.log_to in (None, "", []) else _names("log_to", spec.log_to)
    for tracker in spec.log_to:
        if tracker not in TRACKERS:
            raise SpecError(f"unknown log_to {tracker!r}; trackers: {', '.join(TRACKERS)}")
    fault = _optional_number("fault_rate", spec.fault_rate, 0.0)
    if fault > 1:
        raise SpecError(f"fault_rate must be in [0, 1], got {fault}")
    if not isinstance(spec.task_config, dict):
        raise SpecError(f"task_config must be a mapping of runner keys, got {spec.task_config!r}")
    runners = {parse_task(t).runner for t in spec.tasks}
    spec.task_config = absolute_paths(spec.task_config)
    for key in spec.task_config:
        if not any(key in RUNNER_KEYS[r] + STUDY_KEYS[r] for r in runners):
            keys = sorted(set().union(*(RUNNER_KEYS[r] + STUDY_KEYS[r] for r in runners)))
            raise SpecError(f"task_config: unknown key {key!r} for the study's tasks; known: {', '.join(keys)}")
    steps = spec.task_config.get("paper_steps")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise SpecError(f"task_config: paper_steps must be a positive integer, got {steps!r}")
    if "confirm" in spec.phases and "tune" not in spec.phases:
        raise SpecError("phases: confirm re-runs the best tune trials, so it needs the tune phase too")
    if not isinstance(spec.search_space, dict):
        raise SpecError(f"search_space must be a mapping optimizer -> overrides, got {spec.search_space!r}")
    for opt, overrides in spec.search_space.items():
        if opt not in known:
            raise SpecError(f"search_space: unknown optimizer {opt!r}{did_you_mean(opt, known)}")
        try:
            search_spaces.validate_overrides(opt, overrides)
        except ValueError as exc:
            raise SpecError(f"search_space.{opt}: {exc}") from None
    from study.ladder import parse_ladder

    if isinstance(spec.ladder, str) and spec.ladder != "default":  # --ladder FILE.yaml
        if not Path(spec.ladder).is_file():
            raise SpecError(f"ladder must be `default`, a YAML file with a `ladder:` list or a list of rungs, "
                            f"got {spec.ladder!r}")
        spec.ladder = load_yaml(spec.ladder).get("ladder") or []
    parse_ladder(spec.ladder, spec.optimizers)  # raises SpecError naming the bad rung
    if spec.claims is not None:
        from reports.user_claims import read_claims

        spec.claims = os.path.abspath(os.path.expanduser(str(spec.claims)))
        try:
            read_claims(spec.claims, search_spaces.names(), set(task_names()).__contains__)
        except ValueError as exc:
            raise SpecError(str(exc)) from None
    if spec.name is not None and (not isinstance(spec.name, str) or spec.name in ("", ".", "..") or "/" in spec.name):
        raise SpecError(f"name must be a plain directory name, got {spec.name!r}")
    if not isinstance(spec.storage, str) or not spec.storage:
        raise SpecError(f"storage must be a path or URI, got {spec.storage!r}")
    if spec.storage.startswith("file://"):
        spec.storage = spec.storage[len("file://"):]
    if not is_uri(spec.storage):
        spec.storage = os.path.abspath(os.path.expanduser(spec.storage))
    return spec


def absolute_paths(task_config: dict) -> dict:
    """Runner paths made absolute against the current directory: trials run in their own
    trial directory, on other nodes, so a relative `data_dir` would point elsewhere there."""
    def absolute(value):
        if isinstance(value, str) and value and not is_uri(value):
            return os.path.abspath(os.path.expanduser(value))
        if isinstance(value, list):
            return [absolute(v) for v in value]
        return value

    out = dict(task_config)
    for key in PATH_KEYS:
        if key in out:
            out[key] = absolute(out[key])
    if isinstance(out.get("data_files"), dict):
        out["data_files"] = {split: absolute(v) for split, v in out["data_files"].items()}
    return out


def is_uri(storage: str) -> bool:
    """True for cloud storage (s3://, gs://, ...), which only Ray's trial data can live on."""
    return "://" in storage
