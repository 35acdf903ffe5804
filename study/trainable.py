"""The Ray Tune trainable: a thin adapter from a trial's config to a runner's `train`.

It picks the runner named by `_runner`, pins torch's threads to the trial's CPUs, forwards the
runner's per-epoch reports to `tune.report`, carries the runner's checkpoint directory
(`_checkpoint_dir`, written by runners that checkpoint, e.g. glue) through Tune's checkpoints so a
retried trial resumes mid-run, injects faults for tests, and reports the final metrics with
`final=True`. A diverged trial's score is its task's chance level (never dropped).
"""
from __future__ import annotations

import importlib
import math
import random
import shutil
import tempfile
from pathlib import Path

from ray import tune


class InjectedFault(RuntimeError):
    """A crash on purpose (config `_fault_rate`) right after a trial's first report, to exercise
    retries and mid-run resumption from the runner's checkpoint."""


def _maybe_inject_fault(config: dict, trial_id: str) -> None:
    rate = config.get("_fault_rate", 0.0)
    if not rate or random.Random(trial_id).random() >= rate:
        return
    marker = Path(config["_study_dir"]) / "faults" / trial_id
    if marker.exists():
        return  # crash once, then let the retry run
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    raise InjectedFault(f"injected fault in trial {trial_id} (fault_rate={rate})")


def _restore_checkpoint(local_dir: Path) -> None:
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return
    with checkpoint.as_directory() as src:
        shutil.copytree(src, local_dir, dirs_exist_ok=True)


def _clean(metrics: dict, chance: float) -> dict:
    """Scalars only, and a finite `score` (the searcher reads it on every report)."""
    out = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool)) or v is None}
    score = out.get("score")
    if not isinstance(score, (int, float)) or not math.isfinite(score):
        out["score"] = chance
    return out


def run_trial(config: dict) -> None:
    """Ray Tune function trainable: run one trial of any task."""
    context = tune.get_context()
    trial_id = context.get_trial_id()

    import torch

    torch.set_num_threads(max(1, int(config.get("_cpus", 1))))
    runner = importlib.import_module(f"runners.{config['_runner']}")
    chance = 0.0  # known from the runner's first report

    with tempfile.TemporaryDirectory(prefix=f"ckpt-{trial_id}-") as tmp:
        checkpoint_dir = Path(tmp)
        _restore_checkpoint(checkpoint_dir)
        run_config = {**config, "_checkpoint_dir": str(checkpoint_dir)}

        def report(metrics: dict) -> None:
            nonlocal chance
            chance = float(metrics.get("chance", chance))
            cleaned = _clean({**metrics, "final": False}, chance)
            if any(checkpoint_dir.iterdir()):
                tune.report(cleaned, checkpoint=tune.Checkpoint.from_directory(str(checkpoint_dir)))
                for path in checkpoint_dir.iterdir():  # persisted by Tune: drop the local copy
                    path.unlink()
            else:
                tune.report(cleaned)
            _maybe_inject_fault(config, trial_id)

        result = runner.train(run_config, report)
        chance = float(result.get("chance", chance))
        final = {**result, "final": True}
        if final.get("status") != "ok":
            final["score"] = chance
        tune.report(_clean(final, chance))


def run_fixed_trial(config: dict) -> None:
    """Trainable of the fixed phase, whose param_space is a grid over whole trial configs."""
    run_trial(config["trial"])
