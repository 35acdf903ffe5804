"""The GLUE tasks (all but WNLI are in the SepNorm paper's Table 3): columns, targets, metrics.

Inputs are written as in the T5 paper's GLUE preprocessing,
``"<task> <col>: <text> <col>: <text>"``; classification labels become the T5 label words;
STS-B scores are rounded to 0.2 and written as ``"%.1f"``, giving 26 target strings (T5 paper,
Sec. 2.4).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSpec:
    """One GLUE task: its dataset config name, text columns, targets and metrics."""

    name: str                      # GLUE config name in nyu-mll/glue ("cola", "mnli", ...)
    columns: tuple[str, ...]       # text columns, in the order they are written into the input
    label_words: tuple[str, ...]   # target strings; index = class id (STS-B: 0.0, 0.2, ..., 5.0)
    metrics: tuple[str, ...]       # metric names computed by runners.glue.metrics
    main: str                      # the metric that becomes ``score``
    eval_splits: tuple[str, ...]   # GLUE's labelled validation split(s)

    @property
    def regression(self) -> bool:
        return self.name == "stsb"

    @property
    def n_classes(self) -> int:
        return len(self.label_words)


_STSB_WORDS = tuple(f"{i / 5:.1f}" for i in range(26))

TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in (
        TaskSpec("cola", ("sentence",), ("unacceptable", "acceptable"), ("mcc",), "mcc",
                 ("validation",)),
        TaskSpec("sst2", ("sentence",), ("negative", "positive"), ("acc",), "acc",
                 ("validation",)),
        TaskSpec("mrpc", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"),
                 ("f1", "acc"), "f1", ("validation",)),
        TaskSpec("stsb", ("sentence1", "sentence2"), _STSB_WORDS, ("pearson", "spearman"),
                 "pearson", ("validation",)),
        TaskSpec("qqp", ("question1", "question2"), ("not_duplicate", "duplicate"),
                 ("f1", "acc"), "f1", ("validation",)),
        TaskSpec("mnli", ("hypothesis", "premise"), ("entailment", "neutral", "contradiction"),
                 ("acc",), "acc", ("validation_matched", "validation_mismatched")),
        TaskSpec("qnli", ("question", "sentence"), ("entailment", "not_entailment"), ("acc",),
                 "acc", ("validation",)),
        TaskSpec("rte", ("sentence1", "sentence2"), ("entailment", "not_entailment"), ("acc",),
                 "acc", ("validation",)),
        TaskSpec("wnli", ("sentence1", "sentence2"), ("not_entailment", "entailment"), ("acc",),
                 "acc", ("validation",)),
    )
}

# MNLI's two dev sets are reported as acc_m / acc_mm (matched / mismatched).
SPLIT_SUFFIX = {"validation_matched": "_m", "validation_mismatched": "_mm"}


def resolve_task(task: str) -> TaskSpec:
    """The TaskSpec for ``"cola"``, ``"glue-cola"``, ``"glue/cola"`` or ``"SST-2"``-style names."""
    key = str(task).lower()
    for prefix in ("glue-", "glue/", "glue_"):
        if key.startswith(prefix):
            key = key[len(prefix):]
    key = key.replace("-", "")
    if key not in TASKS:
        raise ValueError(
            f"unknown GLUE task {task!r}; expected one of {', '.join(TASKS)} "
            "(optionally prefixed 'glue-')"
        )
    return TASKS[key]


def format_input(spec: TaskSpec, row: dict) -> str:
    """The T5-style input string of one example."""
    return " ".join([spec.name] + [f"{c}: {row[c]}" for c in spec.columns])


def label_class(spec: TaskSpec, label: float) -> int:
    """The target index of a label: the class id, or for STS-B the nearest multiple of 0.2."""
    if spec.regression:
        return min(25, max(0, round(float(label) * 5)))
    return int(label)
