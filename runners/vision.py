"""Vision runner: one trial = one model trained on one dataset by one optimizer.

``train(config, report) -> dict`` (the runner contract of docs/ARCHITECTURE.md). It reads top to
bottom: settings, data on the device, model and optimizer, the training loop, the final scores.

* Runner keys are ``RUNNER_KEYS``; keys starting with ``_`` and the study's bookkeeping keys are
  ignored; every other key is an optimizer hyperparameter for ``optim.build``.
* Data stays on the device for the whole trial as uint8; each batch is gathered there with an index
  tensor from a seeded permutation and mapped to [-1, 1]. No DataLoader, no per-sample Python.
* Divergence: the loss is summed on the device and checked with one host sync every
  ``CHECK_EVERY`` steps and at every epoch end, so a non-finite loss stops the trial within its
  first epoch (at most ``CHECK_EVERY`` steps late) with ``status="diverged"``; scores are then
  chance level, as the report counts them.
* ``score``/``val_acc`` are the final model's (no best-epoch picking). Lookahead is scored on its
  fast (current) weights. SWA (an optimizer with a ``.swa`` attribute) averages the weights at the
  end of each epoch from epoch ``floor(start * epochs)`` (0-based) on, with ``SWALR`` taking the
  lr to ``swa["lr"]`` in one epoch, and recomputes BatchNorm statistics (``update_bn``) before
  every evaluation of the averaged model, which is the model scored.
* ``eval_each_epoch`` (default true): score the validation split after every epoch. False scores
  it after the last epoch only (each epoch still reports ``train_loss``, with ``evaluated: False``):
  the ThermoLion paper measures final accuracy, and its protocol's per-epoch pass over the 5,000
  training images costs about a quarter of the trial. Training is the same either way.
* ``schedule``: ``constant`` (the papers) or ``cosine`` (per step, to 0 at the last step).
  ``amp``: bf16 autocast for forward and loss. Deterministic on CPU for a given seed.
* ``compile_optimizer`` (default false): optimizers with a compiled step (``optim.registry.COMPILED``)
  take it, compiled before the first step (counted in ``setup_time``); others run as they are.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.nn import functional as F

import optim

from . import device as device_info, diagnostics, splits, vision_data
from .models import MODELS, PLUGIN_MODELS, build_model

RUNNER_KEYS = frozenset({
    "task", "dataset", "model", "optimizer", "batch_size", "epochs", "seed", "protocol", "device",
    "data_dir", "n_train", "amp", "schedule", "diagnostics", "eval_each_epoch", "compile_optimizer",
})
BOOKKEEPING_KEYS = frozenset({"phase", "iid", "trial_index", "rung"})
DEFAULTS: dict[str, Any] = {
    "task": None, "dataset": "digits", "model": "convnet", "optimizer": "adamw", "batch_size": 128,
    "epochs": 12, "seed": 0, "protocol": "fair", "device": "auto", "data_dir": None,
    "n_train": None, "amp": False, "schedule": "constant", "diagnostics": False, "eval_each_epoch": True,
    "compile_optimizer": False,
}
PAPER_DEFAULTS = {"batch_size": 1024, "epochs": 12}  # the notebook's, when not given explicitly
SCHEDULES = ("constant", "cosine")
CHECK_EVERY = 16
AUTOTUNE_MIN_STEPS = 2000  # cuDNN autotuning only for trials at least this long (see train)
EVAL_BATCH = 1024


def split_config(config: dict) -> tuple[dict, dict]:
    """(runner settings with defaults, optimizer hyperparameters) from a flat trial config."""
    hparams = {k: v for k, v in config.items()
               if k not in RUNNER_KEYS and k not in BOOKKEEPING_KEYS and not k.startswith("_")}
    given = {k: v for k, v in config.items() if k in RUNNER_KEYS}
    protocol_defaults = PAPER_DEFAULTS if given.get("protocol") == "paper" else {}
    cfg = {**DEFAULTS, **protocol_defaults, **given}
    vision_data.spec(cfg["dataset"])
    if cfg["model"] not in MODELS and cfg["model"] not in PLUGIN_MODELS:
        raise ValueError(f"unknown model {cfg['model']!r}; known: {', '.join([*MODELS, *PLUGIN_MODELS])}")
    if cfg["protocol"] not in splits.PROTOCOLS:
        raise ValueError(f"unknown protocol {cfg['protocol']!r}; expected one of {splits.PROTOCOLS}")
    if cfg["schedule"] not in SCHEDULES:
        raise ValueError(f"unknown schedule {cfg['schedule']!r}; expected one of {SCHEDULES}")
    for key in ("batch_size", "epochs"):
        if int(cfg[key]) < 1:
            raise ValueError(f"{key} must be >= 1, got {cfg[key]!r}")
    return cfg, hparams


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; anything else as torch parses it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {name!r}") from exc


def to_input(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [-1, 1] (ToTensor + Normalize(0.5, 0.5)), channels-last (NHWC),
    the faster convolution layout on CPU (oneDNN) and on GPU tensor cores."""
    return x.float().div_(127.5).sub_(1.0).contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def correct_count(model, x: torch.Tensor, y: torch.Tensor, amp: bool) -> torch.Tensor:
    """Number of correct predictions, as a device tensor (no host sync)."""
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    for i in range(0, len(x), EVAL_BATCH):
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(to_input(x[i:i + EVAL_BATCH]))
        correct += (logits.argmax(1) == y[i:i + EVAL_BATCH]).sum()
    model.train(was_training)
    return correct


def train(config: dict, report: Callable[[dict], None]) -> dict:
    """Train one vision trial; ``report`` once per epoch; return the final metrics."""
    t_start = time.perf_counter()
    cfg, hparams = split_config(config)
    device = resolve_device(cfg["device"])
    epochs, bs, seed, amp = int(cfg["epochs"]), int(cfg["batch_size"]), int(cfg["seed"]), bool(cfg["amp"])

    # data: the protocol's three splits, moved to the device once
    data = vision_data.load(cfg["dataset"], cfg["data_dir"])
    n_train = None if cfg["n_train"] is None else int(cfg["n_train"])
    sp = splits.select(data, cfg["protocol"], n_train, seed)

    def put(t: torch.Tensor) -> torch.Tensor:
        if device.type == "cuda":
            t = t.pin_memory()
        return t.to(device, non_blocking=True)

    train_x, train_y = put(sp.train_x), put(sp.train_y)
    same_val = cfg["protocol"] == "paper"  # the paper scores its own training images
    val_x, val_y = (train_x, train_y) if same_val else (put(sp.val_x), put(sp.val_y))
    test_x, test_y = put(sp.test_x), put(sp.test_y)
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # once per trial: makes data_time the real transfer time
    data_time = time.perf_counter() - t_start
    n = len(train_x)
    chance = 100.0 / data.classes

    # model and optimizer
    torch.manual_seed(seed)
    model = build_model(cfg["model"], data.channels, data.classes).to(device, memory_format=torch.channels_last)
    compiled = bool(cfg["compile_optimizer"]) and cfg["optimizer"] in optim.registry.COMPILED
    optimizer = optim.build(cfg["optimizer"], model, compiled=compiled, **hparams)
    swa = getattr(optimizer, "swa", None)
    if swa:
        swa_model = torch.optim.swa_utils.AveragedModel(model)
        swa_sched = torch.optim.swa_utils.SWALR(optimizer, swa_lr=swa["lr"], anneal_epochs=1)
        swa_start = min(epochs - 1, math.floor(swa["start"] * epochs + 1e-9))
    if cfg["diagnostics"] and callable(getattr(optimizer, "diagnostics", None)):
        optimizer.diagnostics()  # the first call switches tracking on (e.g. ThermoLion's gate)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    gen = torch.Generator(device=device).manual_seed(seed)

    # batches: the last one is kept (as a DataLoader does), unless it has a single image
    starts = list(range(0, n, bs))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    total_steps = epochs * len(starts)
    if device.type == "cuda":
        # cuDNN autotuning times every algorithm for each new input shape; that pays back only
        # over many steps of one shape, while a short tune trial brings new batch shapes each time
        torch.backends.cudnn.benchmark = total_steps >= AUTOTUNE_MIN_STEPS
    if compiled:
        optimizer.warm_up(total_steps)  # torch.compile now, in the setup, not in the first steps

    step, train_time, eval_time = 0, 0.0, 0.0
    status, train_loss, epochs_done = "ok", float("nan"), 0
    eval_model = model
    model.train()
    for epoch in range(epochs):
        t_epoch = time.perf_counter()
        perm = torch.randperm(n, generator=gen, device=device)
        loss_sum = torch.zeros((), device=device)
        seen = 0
        in_swa = bool(swa) and epoch >= swa_start
        for s in starts:
            idx = perm[s:s + bs]
            xb, yb = to_input(train_x[idx]), train_y[idx]
            if cfg["schedule"] == "cosine" and not in_swa:
                factor = 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
                for g, lr0 in zip(optimizer.param_groups, base_lrs):
                    g["lr"] = lr0 * factor
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach().float() * len(idx)
            seen += len(idx)
            step += 1
            if step % CHECK_EVERY == 0 and not torch.isfinite(loss_sum):
                break
        train_loss = float(loss_sum) / seen  # host sync: ends the epoch's timing too
        train_time += time.perf_counter() - t_epoch
        epochs_done = epoch + 1
        if not math.isfinite(train_loss):
            status = "diverged"
            report({"epoch": epochs_done, "train_loss": train_loss, "val_acc": chance / 100,
                    "score": chance, "chance": chance, "steps": step, "status": status})
            break
        evaluate = bool(cfg["eval_each_epoch"]) or epochs_done == epochs
        if in_swa:
            swa_model.update_parameters(model)
            swa_sched.step()
            eval_model = swa_model
            if evaluate:  # BatchNorm statistics of the averaged weights, for this evaluation
                torch.optim.swa_utils.update_bn(
                    (to_input(train_x[s:s + bs]) for s in range(0, n, bs)), swa_model)
        metrics = {"epoch": epochs_done, "train_loss": train_loss, "steps": step, "chance": chance,
                   "lr": float(optimizer.param_groups[0]["lr"])}
        if evaluate:
            t_eval = time.perf_counter()
            val_acc = float(correct_count(eval_model, val_x, val_y, amp)) / len(val_x)
            eval_time += time.perf_counter() - t_eval
            metrics.update(val_acc=val_acc, score=100 * val_acc)
        else:
            metrics["evaluated"] = False
        if cfg["diagnostics"]:
            metrics.update(diagnostics.collect(model, optimizer))
        report(metrics)

    # final scores: validation (selection), test (reporting), train accuracy
    if status == "diverged":
        val_acc = test_acc = train_acc = chance / 100
    else:
        t_eval = time.perf_counter()
        test_acc = float(correct_count(eval_model, test_x, test_y, amp)) / len(test_x)
        train_acc = val_acc if same_val else float(correct_count(eval_model, train_x, train_y, amp)) / n
        eval_time += time.perf_counter() - t_eval
    wall_time = time.perf_counter() - t_start
    return {
        "status": status, "score": 100 * val_acc, "test_score": 100 * test_acc, "chance": chance,
        "val_acc": val_acc, "test_acc": test_acc, "train_acc": train_acc, "train_loss": train_loss,
        "steps": step, "epochs_done": epochs_done, "n_train": n,
        "wall_time": wall_time, "time_per_step": train_time / max(step, 1),
        # where the wall time went: data load + transfer, the training loop, evaluations, the rest
        "data_time": data_time, "train_time": train_time, "eval_time": eval_time,
        "setup_time": wall_time - data_time - train_time - eval_time, **device_info.describe(device),
    }
