"""`xor`: a task of a new kind with a runner of its own (the runner contract of
docs/ARCHITECTURE.md): a small MLP classifies 2-D points by the sign of x * y (chance: 50%)."""
import math
import time

import torch
from torch.nn import functional as F

import optim
import search_spaces


def _split(n: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, generator=gen) * 2 - 1
    return x, ((x[:, 0] > 0) ^ (x[:, 1] > 0)).long()


def train(config: dict, report) -> dict:
    start = time.perf_counter()
    (x, y), (xv, yv), (xt, yt) = _split(800, 0), _split(200, 1), _split(200, 2)
    torch.manual_seed(int(config["seed"]))
    model = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2))
    names = search_spaces.accepted(config["optimizer"], config.get("base"))
    opt = optim.build(config["optimizer"], model, **{k: v for k, v in config.items() if k in names})
    batch, steps, loss = int(config.get("batch_size", 128)), 0, torch.tensor(float("nan"))
    accuracy = lambda xs, ys: float((model(xs).argmax(1) == ys).float().mean())  # noqa: E731
    for epoch in range(int(config["epochs"])):
        for idx in torch.randperm(len(x)).split(batch):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss, steps = loss.detach(), steps + 1
        with torch.no_grad():
            val = accuracy(xv, yv)
        report({"epoch": epoch + 1, "train_loss": float(loss), "score": 100 * val, "val_acc": val, "chance": 50.0})
    with torch.no_grad():
        val, test = accuracy(xv, yv), accuracy(xt, yt)
    wall = time.perf_counter() - start
    return {"status": "ok" if math.isfinite(float(loss)) else "diverged", "score": 100 * val, "test_score": 100 * test,
            "chance": 50.0, "val_acc": val, "test_acc": test, "train_loss": float(loss), "steps": steps,
            "wall_time": wall, "time_per_step": wall / max(steps, 1), "epochs_done": int(config["epochs"])}
