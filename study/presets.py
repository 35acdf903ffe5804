"""Named study presets: field values for `StudySpec` (see study/spec.py).

- quick: the embedded default; offline digits, every optimizer, a few minutes on a 2-core CPU.
- thermolion-paper: the ThermoLion paper's 12 datasets x its 9 optimizers (+ the SepNorm family),
  the paper protocol (5000 images, batch 1024, 12 epochs) beside the fair one.
- sepnorm-vision: a BatchNorm ResNet-20 on CIFAR-10 with AdamW / Lion / SepNorm / OrtSepNorm.
- sepnorm-glue: T5-base fine-tuned on GLUE with AdamW / Lion / SepNorm / OrtSepNorm.
- full: every task and every optimizer.
"""
from __future__ import annotations

from study.tasks import GLUE_TASKS, THERMOLION_DATASETS

ALL_OPTIMIZERS = [
    "adamw", "adam", "rmsprop", "sgd", "lion", "swats", "lookahead", "swa", "muon",
    "muadam_paper", "thermolion", "sepnorm", "ortsepnorm", "normgd",
]
THERMOLION_PAPER_OPTIMIZERS = [
    "thermolion", "adamw", "adam", "lion", "rmsprop", "swats", "lookahead", "swa", "muadam_paper",
]
SEPNORM_OPTIMIZERS = ["adamw", "lion", "sepnorm", "ortsepnorm"]
GLUE_TASK_NAMES = [f"glue-{t}" for t in GLUE_TASKS]

PRESETS: dict[str, dict] = {
    # Sized for a few minutes on a 2-core CPU: the paper phase (the paper's 12 epochs under both
    # protocols) costs more than the rest together, so it gets one seed here.
    "quick": dict(
        tasks=["digits"], optimizers=ALL_OPTIMIZERS, trials=4, iid_trials=3, seeds=2, paper_seeds=1, epochs=2,
        task_config={"n_train": 600},
    ),
    "thermolion-paper": dict(
        tasks=list(THERMOLION_DATASETS), optimizers=THERMOLION_PAPER_OPTIMIZERS + ["sepnorm", "ortsepnorm"],
        trials=32, iid_trials=16, seeds=5, epochs=12, task_config={"n_train": 5000},
    ),
    "sepnorm-vision": dict(
        tasks=["cifar10-resnet20"], optimizers=SEPNORM_OPTIMIZERS, trials=24, iid_trials=12, seeds=3,
        epochs=60, task_config={"schedule": "cosine", "amp": True},
    ),
    # Table 3 of the SepNorm paper: T5-Base, batch 128, constant lr, 50k steps; here tune/confirm/default
    # take 5k steps (1/10 of the paper's budget) with 10 evaluations, batch fixed at the paper's 128; the
    # paper phase takes the paper's 50k (search_spaces.paper_budget). Inputs up to 512 tokens (the T5 paper's).
    "sepnorm-glue": dict(
        tasks=GLUE_TASK_NAMES, optimizers=SEPNORM_OPTIMIZERS, trials=16, iid_trials=8, seeds=3, epochs=10,
        task_config={"amp": True, "steps": 5000, "schedule": "constant"},
        search_space={name: {"batch_size": 128} for name in SEPNORM_OPTIMIZERS},
    ),
    "full": dict(
        tasks=list(THERMOLION_DATASETS) + ["cifar10-resnet20", "cifar100-resnet20"] + GLUE_TASK_NAMES,
        optimizers=ALL_OPTIMIZERS, trials=32, iid_trials=16, seeds=5, epochs=12,
    ),
}
