"""A synthetic study directory (trials.csv, history.csv, study.json) in the record format of
docs/ARCHITECTURE.md, for tests and benchmarks that need a study without training anything.

Scores follow a known shape: each optimizer has a best log10(lr); the score falls off as a
Gaussian in log10(lr), weight decay costs a little, a too-large lr diverges. Some cells can be left
out entirely (`missing`) or stopped half-way (`partial`), and every `error_every`-th trial errors.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

CHANCE = {"cifar100": 1.0, "glue-cola": 0.0, "gtsrb": 100 / 43}
CEILING = {"digits": 97.0, "cifar10": 70.0, "cifar100": 40.0, "glue-cola": 60.0}
BEST_LOG_LR = {"adam": -3.0, "adamw": -3.0, "lion": -4.0, "thermolion": -3.6, "sepnorm": -3.9, "ortsepnorm": -3.9,
               "sgd": -1.5, "rmsprop": -3.3, "swats": -3.0, "lookahead": -3.0, "swa": -2.0, "muadam_paper": -3.0}
QUALITY = {"adamw": 0.0, "adam": -1.0, "lion": -0.5, "thermolion": 0.5, "sepnorm": 0.3, "ortsepnorm": 0.2}
GROUPS = ("element", "tensor", "layer", "block", "global")


def _hparams(opt: str, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    hp = {"lr": 10 ** rng.uniform(-5, -1, n), "weight_decay": rng.uniform(0, 0.1, n),
          "batch_size": rng.choice([32, 64, 128], n), "beta1": rng.uniform(0.8, 0.95, n)}
    if opt == "thermolion":
        hp["c"] = rng.uniform(0.5, 4.0, n)
    if opt in ("sepnorm", "ortsepnorm"):
        hp["groups"] = rng.choice(GROUPS, n)
    return hp


def _score(task: str, opt: str, hp: dict[str, np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(score, diverged) for the given hyperparameters: a known, smooth response plus noise."""
    chance, ceiling = CHANCE.get(task, 10.0), CEILING.get(task, 80.0) + QUALITY.get(opt, 0.0)
    dist = np.log10(hp["lr"]) - BEST_LOG_LR.get(opt, -3.0)
    score = chance + (ceiling - chance) * np.exp(-0.5 * dist**2) - 20 * hp["weight_decay"]
    if "c" in hp:
        score -= 0.5 * np.abs(hp["c"] - 2.0)
    score += rng.normal(0, 0.5, len(dist))
    return np.clip(score, 0, 100), dist > 1.6


def _rows(task, opt, phase, protocol, hp, seeds, start_id, iid_count, error_every, rng) -> pd.DataFrame:
    n = len(seeds)
    score, diverged = _score(task, opt, hp, rng)
    status = np.where(diverged, "diverged", "ok").astype(object)
    ids = np.arange(start_id, start_id + n)
    if error_every:
        status[(ids % error_every) == error_every - 1] = "error"
    ok = status == "ok"
    steps = np.full(n, 60)
    df = pd.DataFrame({
        "trial_id": [f"t{i:06d}" for i in ids], "phase": phase, "task": task, "optimizer": opt, "protocol": protocol,
        "seed": seeds, "status": status, "score": np.where(ok, score, np.nan),
        "test_score": np.where(ok, score - 1.0 + rng.normal(0, 0.5, n), np.nan), "chance": CHANCE.get(task, 10.0),
        "iid": np.arange(n) < iid_count, "train_loss": np.where(ok, 2.5 * (1 - score / 100), np.nan), "steps": steps,
        "wall_time": steps * 0.01 * (1.05 if opt == "thermolion" else 1.0), "epochs_done": 3,
        "error": np.where(status == "error", "RuntimeError: synthetic failure", ""),
    })
    df["time_per_step"] = df["wall_time"] / steps
    for name, values in hp.items():
        df[f"hp_{name}"] = values
    return df


def _history(trials: pd.DataFrame, epochs: int, rng: np.random.Generator) -> pd.DataFrame:
    """Per-epoch train_loss, score and diagnostics for the ok trials, with the keys the runners
    write (runners/diagnostics.py: gate_mean, weight_norm, momentum_tracing) plus group_size."""
    ok = trials[trials["status"] == "ok"]
    parts = []
    for e in range(1, epochs + 1):
        frac = e / epochs
        base = ok[["trial_id", "phase", "task", "optimizer"]].assign(epoch=e)
        parts.append(base.assign(key="train_loss", value=ok["train_loss"].to_numpy() / frac))
        parts.append(base.assign(key="score", value=ok["score"].to_numpy() * frac))
        thermo = base[ok["optimizer"].to_numpy() == "thermolion"]
        for g in (0, 1):
            gate = np.clip(0.3 + 0.5 * frac - 0.1 * g + rng.normal(0, 0.02, len(thermo)), 0, 1)
            parts.append(thermo.assign(key=f"diag/gate_mean/{g}", value=gate))
        for g, size in ((0, 288), (1, 18432)):
            parts.append(base.assign(key=f"diag/weight_norm/{g}", value=np.sqrt(size) * (0.05 + 0.02 * frac)))
        sep = base[np.isin(ok["optimizer"].to_numpy(), ["sepnorm", "ortsepnorm"])]
        for g, size in ((0, 288), (1, 18432)):
            parts.append(sep.assign(key=f"diag/group_size/{g}", value=float(size)))
        parts.append(base.assign(key="diag/momentum_tracing", value=np.round(100 * frac)))
    return pd.concat(parts, ignore_index=True)


def make_study(path, tasks=("digits", "cifar10", "glue-cola"), optimizers=("adamw", "lion", "thermolion", "sepnorm"),
               n_trials: int = 16, iid_trials: int = 8, seeds: int = 3, epochs: int = 3, seed: int = 0,
               missing=(("glue-cola", "sepnorm"),), partial=(("cifar10", "lion"),), error_every: int = 13,
               history: bool = True) -> Path:
    """Write a synthetic study directory at `path` and return it.

    `missing` cells have no rows at all; `partial` cells stop half-way through tuning (no confirm,
    default or paper rows). Paper rows use both protocols on vision tasks, fair only on GLUE.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    frames, next_id = [], 0
    for task in tasks:
        for opt in optimizers:
            if (task, opt) in missing:
                continue
            n = n_trials // 2 if (task, opt) in partial else n_trials
            hp = _hparams(opt, n, rng)
            tune = _rows(task, opt, "tune", "fair", hp, np.zeros(n, int), next_id, iid_trials, error_every, rng)
            frames.append(tune)
            next_id += n
            if (task, opt) in partial:
                continue
            best = tune.loc[tune["score"].idxmax(), [c for c in tune.columns if c.startswith("hp_")]]
            fixed = [("confirm", "fair", best)]
            default = best.copy()
            default["hp_lr"] = 10 ** BEST_LOG_LR.get(opt, -3.0) * 3
            fixed.append(("default", "fair", default))
            for protocol in (("fair",) if task.startswith("glue-") else ("paper", "fair")):
                paper = best.copy()
                paper["hp_lr"] = 1e-3 / (3 if opt == "lion" else 1)
                fixed.append(("paper", protocol, paper))
            for phase, protocol, point in fixed:
                hp_s = {k[3:]: np.repeat(np.asarray([v], dtype=object if isinstance(v, str) else None), seeds) for k, v in point.items()}
                rows = _rows(task, opt, phase, protocol, hp_s, np.arange(1, seeds + 1), next_id, 0, 0, rng)
                frames.append(rows)
                next_id += seeds
    trials = pd.concat(frames, ignore_index=True)
    trials.to_csv(path / "trials.csv", index=False)
    if history:
        _history(trials, epochs, rng).to_csv(path / "history.csv", index=False)
    spec = {"tasks": list(tasks), "optimizers": list(optimizers), "trials": n_trials, "iid_trials": iid_trials,
            "seeds": seeds, "epochs": epochs}
    (path / "study.json").write_text(json.dumps({"name": path.name, "spec": spec, "phases": {"tune": "done", "confirm": "done", "default": "done", "paper": "done"}}, indent=1))
    return path
