"""The GLUE training loop: ``train(config, report) -> dict`` (see the package docstring)."""

from __future__ import annotations

import math
import random
import time

import numpy as np
import torch

import optim

from .. import device as device_info
from . import checkpoint, data, metrics, model as t5
from .swa import SWA
from .tasks import SPLIT_SUFFIX, TaskSpec, resolve_task

DEFAULTS = dict(model="tiny", optimizer="adamw", batch_size=32, grad_accum=1, steps=None,
                epochs=None, eval_every=None, seed=0, device="auto", data_dir=None,
                data_files=None, cache_dir=None, max_length=512, schedule="constant",
                warmup_steps=0, amp=None, n_train=None, n_val=None, protocol="fair",
                selection="train-holdout", eval_batch_size=64, diagnostics=False,
                checkpoint_every=1)
IGNORED = ("phase", "iid", "trial_index", "rung")
SCHEDULES = ("constant", "linear", "cosine")
PROTOCOLS = ("fair", "paper")
SELECTIONS = ("train-holdout", "dev-split")


def _settings(config: dict) -> tuple[dict, TaskSpec, dict]:
    """(runner settings, task, optimizer hyperparameters) from a trial config."""
    cfg = {k: v for k, v in config.items() if not str(k).startswith("_") and k not in IGNORED}
    if "task" not in cfg:
        raise ValueError("GLUE config needs 'task' (e.g. 'cola' or 'glue-cola')")
    spec = resolve_task(cfg.pop("task"))
    s = {k: cfg.pop(k, v) for k, v in DEFAULTS.items()}
    for key in ("batch_size", "grad_accum", "max_length", "eval_batch_size", "checkpoint_every"):
        if not isinstance(s[key], int) or s[key] < 1:
            raise ValueError(f"{key} must be a positive integer, got {s[key]!r}")
    if s["batch_size"] % s["grad_accum"]:
        raise ValueError(f"batch_size {s['batch_size']} is not divisible by grad_accum "
                         f"{s['grad_accum']} (batch_size is the batch per optimizer step)")
    if s["schedule"] not in SCHEDULES:
        raise ValueError(f"unknown schedule {s['schedule']!r}; expected one of {SCHEDULES}")
    if s["protocol"] not in PROTOCOLS:
        raise ValueError(f"unknown protocol {s['protocol']!r}; expected one of {PROTOCOLS}")
    if s["selection"] not in SELECTIONS:
        raise ValueError(f"unknown selection {s['selection']!r}; expected one of {SELECTIONS}")
    s["steps"], s["eval_steps"] = _eval_schedule(s["steps"], s["epochs"], s["eval_every"])
    s["eval_every"] = s["steps"] // len(s["eval_steps"])  # the mean interval (SWA's anneal)
    s["test"] = config.get("phase") != "tune"  # tune trials are scored on validation only
    if s["device"] == "auto":
        s["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    if s["amp"] is None:
        s["amp"] = s["device"].startswith("cuda")
    return s, spec, cfg


def _eval_schedule(steps, epochs, every) -> tuple[int, tuple[int, ...]]:
    """(steps, the steps after which to evaluate): ``epochs`` evals exactly when given (at
    ceil(i x steps / epochs), so the last is the last step; at most one per step, so fewer
    when epochs > steps), else one every ``every`` steps and one at the end."""
    if steps is None:
        every = every or 100
        steps = (epochs or 10) * every
    elif epochs is not None and every is not None and epochs * every != steps:
        raise ValueError(f"steps={steps} disagrees with epochs={epochs} x eval_every={every}")
    if steps < 1 or (every is not None and every < 1) or (epochs is not None and epochs < 1):
        raise ValueError(f"steps, epochs and eval_every must be positive, got {steps}, {epochs} "
                         f"and {every}")
    if every is not None:
        points = set(range(every, steps + 1, every)) | {steps}
    else:
        n = min(steps, epochs or 10)
        points = {-(-i * steps // n) for i in range(1, n + 1)}
    return int(steps), tuple(sorted(points))


def _lr_lambda(schedule: str, warmup: int, steps: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        frac = (step - warmup) / max(1, steps - warmup)
        if schedule == "linear":
            return max(0.0, 1.0 - frac)
        if schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac)))
        return 1.0
    return f


class _Batches:
    """Shuffled passes over the training rows; the state is saved in checkpoints."""

    def __init__(self, n: int, batch: int, seed: int):
        if n < batch:
            raise ValueError(f"training set of {n} examples is smaller than batch_size {batch}")
        self.n, self.batch = n, batch
        self.gen = torch.Generator().manual_seed(seed)
        self.perm, self.pos = torch.randperm(n, generator=self.gen), 0

    def next(self) -> torch.Tensor:
        if self.pos + self.batch > self.n:
            self.perm, self.pos = torch.randperm(self.n, generator=self.gen), 0
        self.pos += self.batch
        return self.perm[self.pos - self.batch: self.pos]

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "perm": self.perm, "pos": self.pos}

    def load_state_dict(self, st: dict) -> None:
        self.gen.set_state(st["gen"])
        self.perm, self.pos = st["perm"], st["pos"]


def _inputs(split: dict, idx: torch.Tensor, device: str):
    """(input_ids, attention_mask) on ``device``, cropped to the batch's longest row (computed
    on the host from the cached lengths, so no device sync)."""
    lengths = split["lengths"][idx]
    width = int(lengths.max())
    ids = split["input_ids"][idx, :width].long()
    mask = (torch.arange(width) < lengths[:, None]).long()
    return ids.to(device, non_blocking=True), mask.to(device, non_blocking=True)


@torch.no_grad()
def _evaluate(net, spec: TaskSpec, split: dict, targets: torch.Tensor, s: dict) -> dict:
    """The task's metrics on one tokenized split, by rank classification."""
    net.eval()
    order = torch.argsort(split["lengths"])
    chunk = min(s["eval_batch_size"], max(1, 4 * s["eval_batch_size"] // spec.n_classes))
    preds = []
    for i in range(0, len(order), chunk):
        idx = order[i: i + chunk]
        ids, mask = _inputs(split, idx, s["device"])
        with torch.autocast(torch.device(s["device"]).type, torch.bfloat16, enabled=s["amp"]):
            preds.append(t5.rank_scores(net, ids, mask, targets).argmax(-1))
    net.train()
    pred = torch.empty(len(order), dtype=torch.int64)
    pred[order] = torch.cat(preds).cpu()
    labels = split["label"].numpy()
    pred = pred.numpy() / 5.0 if spec.regression else pred.numpy()
    return metrics.compute(spec, pred, labels if spec.regression else labels.astype(np.int64))


def _n_val(s: dict, n: int) -> int:
    """Rows held out of a training set of ``n`` for selection (train-holdout): n_val or min(2000, 10%)."""
    return s["n_val"] or min(2000, max(1, n // 10))


def train_size(config: dict) -> int:
    """Examples a fair-protocol trial of ``config`` trains on (loads the raw data, no model):
    GLUE train less the held-out selection rows (train-holdout), at most ``n_train``. The paper
    protocol trains on at least as many. The study caps its batch sizes at this number."""
    s, spec, _ = _settings({**config, "steps": 1, "epochs": None, "eval_every": None})  # the budget is not read
    n = len(data.load_raw(spec, s["data_dir"], s["data_files"], s["cache_dir"])["train"])
    rows = n if s["selection"] == "dev-split" else n - _n_val(s, n)
    return min(rows, s["n_train"]) if s["n_train"] else rows


def _prepare(spec: TaskSpec, s: dict, tokenizer) -> tuple[dict, dict[str, dict]]:
    """(train split, {"select": {name: split}, "test": {name: split}}) as tokenized CPU tensors.

    fair: with ``selection`` train-holdout, the selection split ``val`` is held out of GLUE's
    train set (n_val rows, default min(2000, 10%)) and GLUE's dev set(s) are the test; with
    dev-split, every dev set is cut in two fixed halves, the first selects, the second is the
    test (the original t5-base saw GLUE's train sets in pre-training: a train holdout is not
    unseen data for it). paper: GLUE's dev set(s) for both, as the paper did.
    """
    raw = data.load_raw(spec, s["data_dir"], s["data_files"], s["cache_dir"])
    enc = {k: data.encode(spec, raw[k], tokenizer, s["max_length"], s["cache_dir"])
           for k in ("train",) + spec.eval_splits}
    dev = {k: enc[k] for k in spec.eval_splits}
    train_split = enc["train"]
    n = len(train_split["target"])
    tr_idx = torch.arange(n)
    if s["protocol"] == "paper":
        select, test = dev, dev
    elif s["selection"] == "dev-split":
        halves = {k: data.holdout(len(v["target"]), len(v["target"]) // 2) for k, v in dev.items()}
        select = {k: data.subset(dev[k], val_idx) for k, (_, val_idx) in halves.items()}
        test = {k: data.subset(dev[k], rest) for k, (rest, _) in halves.items()}
    else:
        tr_idx, val_idx = data.holdout(n, _n_val(s, n))
        select, test = {"val": data.subset(train_split, val_idx)}, dev
    if s["n_train"]:
        tr_idx = tr_idx[: s["n_train"]]
    return data.subset(train_split, tr_idx), {"select": select, "test": test}


def _truncated(train_split: dict, sets: dict) -> dict[str, int]:
    """How many examples were cut at ``max_length``: in training and in the evaluated splits."""
    evaluated = {id(v): v for group in sets.values() for v in group.values()}.values()
    return {"truncated_train": int(train_split["truncated"].sum()),
            "truncated_eval": int(sum(v["truncated"].sum() for v in evaluated))}


def _eval_sets(net, spec, sets: dict, targets, s) -> dict[str, float]:
    """Metrics of every split in ``sets``; MNLI's dev splits get suffixes _m / _mm."""
    out = {}
    for name, split in sets.items():
        suffix = SPLIT_SUFFIX.get(name, "")
        out.update({f"{m}{suffix}": v for m, v in _evaluate(net, spec, split, targets, s).items()})
    return out


def _main(spec: TaskSpec, mets: dict) -> float:
    return 100.0 * mets.get(spec.main, mets.get(spec.main + "_m", float("nan")))


def train(config: dict, report) -> dict:
    """Fine-tune T5 on one GLUE task; ``report`` is called at every eval; returns final metrics."""
    t_start = time.perf_counter()
    s, spec, hparams = _settings(config)
    random.seed(s["seed"])
    np.random.seed(s["seed"])
    net, tokenizer = t5.build(s["model"], s["seed"])
    train_split, sets = _prepare(spec, s, tokenizer)
    targets = data.encode_targets(spec, tokenizer).to(s["device"])
    chance = metrics.chance(spec, next(iter(sets["select"].values()))["label"].numpy())
    net.to(s["device"]).train()
    opt = optim.build(s["optimizer"], t5.block_view(net), **hparams)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, _lr_lambda(s["schedule"], s["warmup_steps"], s["steps"]))
    batches = _Batches(len(train_split["target"]), s["batch_size"], s["seed"])
    swa = SWA(net, opt, s["steps"], s["eval_every"]) if getattr(opt, "swa", None) else None
    st = dict(step=0, epoch=0, train_time=0.0, tokens=0, best=None, last={}, train_loss=None,
              status="ok")

    ck = checkpoint.load(config.get("_checkpoint_dir"))
    if ck is not None:
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        batches.load_state_dict(ck["batches"])
        if swa is not None:
            swa.load_state_dict(ck["swa"])
        checkpoint.set_rng_state(ck["rng"])
        st = ck["state"]

    device_type = torch.device(s["device"]).type
    micro = s["batch_size"] // s["grad_accum"]
    # target tokens per class, on the host: the loss of a batch is the mean over all its target
    # tokens, however it is split into micro-batches (label words differ in length, e.g. RTE's)
    target_tokens = (targets != -100).sum(1).cpu()
    loss_sum = torch.zeros((), device=s["device"])
    n_loss, t_interval = 0, time.perf_counter()
    eval_steps = set(s["eval_steps"])
    while st["step"] < s["steps"] and st["status"] == "ok":
        idx = batches.next()
        batch_tokens = int(target_tokens[train_split["target"][idx]].sum())
        for j in range(s["grad_accum"]):
            part = idx[j * micro: (j + 1) * micro]
            ids, mask = _inputs(train_split, part, s["device"])
            labels = targets[train_split["target"][part].to(s["device"], non_blocking=True)]
            with torch.autocast(device_type, torch.bfloat16, enabled=s["amp"]):
                loss = net(input_ids=ids, attention_mask=mask, labels=labels).loss  # mean over its tokens
            share = int(target_tokens[train_split["target"][part]].sum()) / batch_tokens
            (loss * share).backward()
            loss_sum += loss.detach().float() * share
            st["tokens"] += int(train_split["lengths"][part].sum())
        n_loss += 1
        opt.step()
        opt.zero_grad(set_to_none=True)
        st["step"] += 1
        if swa is None or not swa.step_lr(st["step"]):
            sched.step()
        if st["step"] not in eval_steps:
            continue
        # --- eval interval: the loop's own host syncs (transformers' mask helper also checks
        # `padding_mask.all()` on the host in each forward) ---
        st["train_loss"] = float(loss_sum / max(1, n_loss))
        st["train_time"] += time.perf_counter() - t_interval
        st["epoch"] += 1
        if not math.isfinite(st["train_loss"]):
            st["status"] = "diverged"
            report(dict(epoch=st["epoch"], step=st["step"], train_loss=st["train_loss"],
                        score=chance, chance=chance))
            break
        evaluated = net if swa is None else swa.at_eval(net, st["step"])
        mets = _eval_sets(evaluated, spec, sets["select"], targets, s)
        score = _main(spec, mets)
        if s["protocol"] == "paper" and (st["best"] is None or score > st["best"]["score"]):
            st["best"] = {"score": score, **mets}  # the paper reports the peak dev score
        st["last"] = mets
        row = dict(epoch=st["epoch"], step=st["step"], train_loss=st["train_loss"], score=score,
                   chance=chance, lr=opt.param_groups[0]["lr"],
                   **{f"val_{k}": v for k, v in mets.items()})
        if s["diagnostics"] and hasattr(opt, "diagnostics"):
            row.update({f"diag/{k}": float(v) for k, v in opt.diagnostics().items()})
        if (config.get("_checkpoint_dir") and st["step"] < s["steps"]
                and st["epoch"] % s["checkpoint_every"] == 0):
            checkpoint.save(config["_checkpoint_dir"], {
                "model": net.state_dict(), "optimizer": checkpoint.compact_optimizer_state(opt),
                "scheduler": sched.state_dict(), "batches": batches.state_dict(),
                "swa": swa.state_dict() if swa is not None else None,
                "rng": checkpoint.rng_state(), "state": st})
        report(row)
        loss_sum.zero_()
        n_loss, t_interval = 0, time.perf_counter()

    out = _result(st, spec, s, chance, t_start, lambda: _eval_sets(
        net if swa is None else swa.evaluated(net),
        spec, sets["test"], targets, s))
    return {**out, **_truncated(train_split, sets)}


def _result(st: dict, spec: TaskSpec, s: dict, chance: float, t_start: float, test_fn) -> dict:
    """The runner's return value (contract of docs/ARCHITECTURE.md)."""
    out = dict(status=st["status"], chance=chance, train_loss=st["train_loss"], steps=st["step"],
               epochs_done=st["epoch"], wall_time=time.perf_counter() - t_start,
               time_per_step=st["train_time"] / max(1, st["step"]),
               tokens_per_s=st["tokens"] / max(1e-9, st["train_time"]), **device_info.describe(s["device"]))
    if st["status"] != "ok":
        return {**out, "score": chance, "test_score": chance}
    if s["protocol"] == "paper":
        best = dict(st["best"])
        score = best.pop("score")
        test = best
    elif s["test"]:
        score, test = _main(spec, st["last"]), test_fn()
    else:  # a tune trial: no test evaluation (only the fixed phases report test scores)
        return {**out, "score": _main(spec, st["last"]), "test_score": float("nan"),
                **{f"val_{k}": v for k, v in st["last"].items()}}
    return {**out, "score": score, "test_score": _main(spec, test),
            **{f"val_{k}": v for k, v in st["last"].items()},
            **{f"test_{k}": v for k, v in test.items()}}
