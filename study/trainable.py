"""The Ray Tune trainable: a thin adapter from a trial's configs to a runner's `train`.

A Ray trial runs a bundle of configurations back to back (study/bundles.py); each is one trial of
the records, with its own reports (tagged `config_index`, `config_id`), timeout, error handling,
fault injection and final report (with `config_time_s`: its measured seconds, less those its
reports waited for the driver).

It picks the runner named by `_runner`, pins torch's threads to the trial's CPUs, forwards the
runner's per-epoch reports to `tune.report`, carries the runner's checkpoint directory
(`_checkpoint_dir`, written by runners that checkpoint, e.g. glue) through Tune's checkpoints so a
retried trial resumes mid-run, injects faults for tests, hands the runner `_build` as its
`optimizer` where a paper phase runs the paper's own implementation, and reports the final metrics
with `final=True`. A diverged trial's score is its task's chance level (never dropped).

Errors the trial's own config causes (out of memory, shape mismatches, invalid values) end the
trial normally with `status=error`, the cause in `error` and the chance score, so that the cell's
TPE learns to avoid that region; every other exception propagates and Tune retries the trial
(FailureConfig). A trial past `_trial_timeout` seconds ends with `status=timeout` the same way.

A bundle's reports travel together (`Outbox`): each Tune report costs the driver a result to process
and a checkpoint a forced snapshot of the whole experiment, which made the driver, not the slots,
the limit of a busy cluster. A bundle sends what it has when a configuration ends and REPORT_EVERY_S
seconds passed since its last report, when the runner wrote a checkpoint, before an infrastructure
error and at its end; each report sent after a finished configuration carries a checkpoint with the
bundle's progress, so that a restart (a retry, a resumed driver) skips the configurations whose
results reached the driver. A Ray trial of one configuration reports every epoch, as a runner does.
"""
from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import random
import re
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path

import ray
from ray import tune

from study.bundles import HANDBACK_KEY, HANDED_BACK, LENT_TO, bundle_configs
from study.deadline import Deadline, TrialTimeout
from study.outbox import REPORT_EVERY_S, Outbox, take_progress, write_progress


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


# What a config, not the infrastructure, causes: the same config would fail again on any node.
CONFIG_ERROR_TYPES = ("OutOfMemoryError", "ValueError", "FloatingPointError", "ZeroDivisionError")
CONFIG_ERROR_TEXT = re.compile(r"out of memory|shape|size mismatch|must match the size|mat1 and mat2|\bnan\b")


def is_config_error(exc: BaseException) -> bool:
    """True for errors the trial's hyperparameters cause (OOM, shapes, invalid values, NaN at init)."""
    if isinstance(exc, InjectedFault):
        return False
    if type(exc).__name__ in CONFIG_ERROR_TYPES:
        return True
    return isinstance(exc, RuntimeError) and CONFIG_ERROR_TEXT.search(str(exc).lower()) is not None


def _runner_module(name: str):
    """`vision`/`glue` name a module of runners/, a plugin's runner its `train`; a dotted name is a
    module path (test runners)."""
    from study import plugins

    train = plugins.runner(name)
    if train is not None:
        return types.SimpleNamespace(train=train)
    return importlib.import_module(name if "." in name else f"runners.{name}")


def _restore_checkpoint(local_dir: Path) -> None:
    """Copy Tune's latest checkpoint of this trial (if any) into the runner's directory. One whose
    files are gone (a driver killed between Tune's state saves) means starting the trial afresh."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return
    try:
        with checkpoint.as_directory() as src:
            shutil.copytree(src, local_dir, dirs_exist_ok=True)
    except FileNotFoundError as exc:
        print(f"checkpoint {checkpoint.path} is gone ({exc}); the trial starts from its first step",
              file=sys.stderr, flush=True)
        shutil.rmtree(local_dir, ignore_errors=True)
        local_dir.mkdir(parents=True, exist_ok=True)


def _clean(metrics: dict, chance: float) -> dict:
    """Scalars only, and a finite `score` (the searcher reads it on every report)."""
    out = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool)) or v is None}
    score = out.get("score")
    if not isinstance(score, (int, float)) or not math.isfinite(score):
        out["score"] = chance
    return out


def device_share(assigned: dict, cpus_on_node: int) -> int:
    """At most how many trials the scheduler can place on this trial's device at once: 1/GPU share
    on a GPU (1 for a whole GPU or more), else the node's CPUs over this trial's CPUs."""
    gpu = float(assigned.get("GPU", 0.0))
    if gpu > 0:
        return 1 if gpu >= 1 else int(1 / gpu + 1e-9)
    return max(1, int(cpus_on_node // max(1.0, float(assigned.get("CPU", 1.0)))))


def _clear(directory: Path) -> None:
    for path in directory.iterdir():
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def run_trial(config: dict) -> None:
    """Ray Tune function trainable: run a Ray trial's configurations (study/bundles.py) one after
    another, each as one trial of the records. A bundle restarted by Tune (an infrastructure error,
    a resumed driver) continues from its checkpoint: the configurations whose results reached the
    driver are not rerun. An elastic bundle (HANDBACK_KEY) stops after the configuration that ends
    past its time and hands the rest back to the searcher, unless Tune reset it under another Ray
    trial id (--retry-errored), which the searcher does not know: then it runs them all."""
    configs = bundle_configs(config)
    every_s = 0.0 if len(configs) == 1 else float(configs[0].get("_report_every_s", REPORT_EVERY_S))
    outbox = Outbox(every_s)
    lent = config.get(HANDBACK_KEY) and config.get(LENT_TO) == tune.get_context().get_trial_id()
    handback_at = time.monotonic() + float(config[HANDBACK_KEY]) if lent else math.inf
    with tempfile.TemporaryDirectory(prefix="bundle-") as tmp:
        restored = Path(tmp)
        _restore_checkpoint(restored)
        done = take_progress(restored)
        try:
            for index in range(done, len(configs)):
                later = [c["_trial_id"] for c in configs[index + 1:]]
                if _run_config(configs[index], index, later, restored if index == done else None, outbox, handback_at):
                    break  # handed back the later ones
        except Exception:  # infrastructure (config errors end their configuration normally)
            outbox.send_before_error()
            raise


def _run_config(config: dict, index: int, later: list[str], restored: Path | None, outbox: Outbox,
                handback_at: float = math.inf) -> bool:
    """One configuration of a bundle (the index-th, `later` the ids after it): its reports, tagged
    with its index and id, and its final result; `restored` holds the runner's files of a run to
    resume, if any (moved into its checkpoint directory). Past `handback_at` (an elastic bundle) its
    final result hands the later ones back: returns True then."""
    trial_id = config.get("_trial_id") or tune.get_context().get_trial_id()
    started, waited = time.perf_counter(), 0.0  # waited: in tune.report, on the driver
    tag = {"config_index": index, "config_id": trial_id}
    if config.get("_plugins"):
        from study import plugins

        plugins.ensure_loaded(config["_plugins"])  # this worker registers the study's plugins too
    runner = _runner_module(config["_runner"])
    torch = sys.modules.get("torch")  # imported by every real runner; test runners may do without
    if torch is not None:
        torch.set_num_threads(max(1, int(config.get("_cpus", 1))))
    chance = 0.0  # known from the runner's first report

    with tempfile.TemporaryDirectory(prefix=f"ckpt-{trial_id}-") as tmp:
        checkpoint_dir = Path(tmp)
        for path in restored.iterdir() if restored is not None else ():
            shutil.move(path, checkpoint_dir / path.name)  # a rename: Tune's checkpoint is copied once
        run_config = {**config, "_checkpoint_dir": str(checkpoint_dir)}
        if "_build" in config:  # a paper's own implementation; the records keep the cell's name
            run_config["optimizer"] = config["_build"]

        def checkpoint(done: int):
            """The runner's files (if any) and the bundle's progress, for a restart."""
            if later or index:
                write_progress(checkpoint_dir, done)
            return tune.Checkpoint.from_directory(str(checkpoint_dir))

        def report(metrics: dict) -> None:
            nonlocal chance, waited
            chance = float(metrics.get("chance", chance))
            cleaned = _clean({**metrics, **tag, "final": False}, chance)
            # a runner's checkpoint goes at once; held final results of earlier configurations go
            # with the progress that skips them on a restart
            if any(checkpoint_dir.iterdir()) or (outbox.due() and outbox.holds_finals()):
                waited += outbox.add(cleaned, checkpoint=checkpoint(index))
                _clear(checkpoint_dir)  # persisted by Tune: drop the local copy
            else:
                waited += outbox.add(cleaned, send=outbox.due())
            _maybe_inject_fault(config, trial_id)

        deadline = Deadline(config.get("_trial_timeout"))
        try:
            with deadline:
                outbox.shield = deadline.shield
                result = runner.train(run_config, report)
        except TrialTimeout:
            result = {"status": "timeout", "error": f"trial passed --trial-timeout {config['_trial_timeout']:g} s"}
        except Exception as exc:
            if not is_config_error(exc):
                raise  # infrastructure: Tune retries the trial (a bundle: from this configuration)
            line = (str(exc).strip().splitlines() or [""])[0][:300]
            result = {"status": "error", "error": f"{type(exc).__name__}: {line}"}
        finally:
            outbox.shield = contextlib.nullcontext
        chance = float(result.get("chance", chance))
        share = device_share(ray.get_runtime_context().get_assigned_resources(), os.cpu_count() or 1)
        # its own seconds, not those its reports waited for a busy driver: sizes later bundles (study/bundles.py)
        final = {**result, **tag, "device_share": share, "final": True,
                 "config_time_s": time.perf_counter() - started - waited}
        if final.get("status") != "ok":
            final["score"] = chance
        handing_back = bool(later) and time.monotonic() >= handback_at
        if handing_back:
            final[HANDED_BACK] = json.dumps(later)
        if handing_back or not later:  # the bundle's last configuration
            outbox.add(_clean(final, chance), send=True)
        elif outbox.due():  # the next configuration starts afresh; a restart skips this one
            _clear(checkpoint_dir)
            outbox.add(_clean(final, chance), checkpoint=checkpoint(index + 1))
        else:
            outbox.add(_clean(final, chance))
        return handing_back
