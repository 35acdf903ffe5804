"""An optimizer-study plugin: AdaBelief (an optimizer the suite lacks), `blobs` (a small vision
task) and `xor` (a task of a new kind, with a runner of its own).

Installed (`pip install -e examples/my_optimizer`), the entry point `my_optimizer:register`
makes both appear in every study; without installing, `--plugin my_optimizer` does the same from
a directory on PYTHONPATH.
"""
from .adabelief import AdaBelief
from .blobs import blobs
from .xor import train as train_xor


def make(params, lr, weight_decay, beta1, beta2, eps):
    """param groups (decay / no-decay already split) and AdaBelief's own hyperparameters."""
    return AdaBelief(params, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay)


def register():
    from study.plugins import register_optimizer, register_runner, register_task

    register_optimizer(
        "adabelief", make,
        space={"lr": {"low": 1e-5, "high": 3e-2, "log": True},
               "weight_decay": {"low": 1e-4, "high": 1.0, "zero_share": 0.2},
               "beta1": {"low": 0.8, "high": 0.99}, "beta2": {"choices": [0.99, 0.999]}, "eps": 1e-16},
        default={"lr": 1e-3, "weight_decay": 0.0, "beta1": 0.9, "beta2": 0.999},
    )
    register_task("blobs", blobs)
    register_runner("xor", train_xor)
