"""Where a trial's first seconds go in a fresh process: each setup stage of the vision runner timed
alone (synchronized), then the same trial again warm, with cuDNN autotuning on or off.

    python benchmarks/trial_cold_start.py --device cuda [--cudnn-benchmark] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import time

T0 = time.perf_counter()
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import optim  # noqa: E402
from runners import vision, vision_data  # noqa: E402
from runners.models import build_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--cudnn-benchmark", action="store_true")
    args = ap.parse_args()
    device = vision.resolve_device(args.device)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    stages: list[tuple[str, float]] = [("import torch + project", time.perf_counter() - T0)]
    last = time.perf_counter()

    def mark(name: str) -> None:
        nonlocal last
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        now = time.perf_counter()
        stages.append((name, now - last))
        last = now

    data = vision_data.load(args.dataset)
    mark("load dataset (cache)")
    torch.zeros(1, device=device)
    mark("device context")
    x, y = data.train_x.to(device), data.train_y.to(device)
    mark("data to device")
    torch.manual_seed(0)
    model = build_model("convnet", data.channels, data.classes).to(device, memory_format=torch.channels_last)
    opt = optim.build("adamw", model, lr=1e-3)
    mark("model + optimizer")
    xb, yb = vision.to_input(x[:args.batch_size]), y[:args.batch_size]
    loss = F.cross_entropy(model(xb), yb)
    mark("first forward")
    loss.backward()
    mark("first backward")
    opt.step()
    mark("first optimizer step")
    for _ in range(3):
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    mark("3 more steps, same shape")
    xb2, yb2 = vision.to_input(x[:args.batch_size + 8]), y[:args.batch_size + 8]
    F.cross_entropy(model(xb2), yb2).backward()
    mark("fwd+bwd at a new batch shape")
    for name, s in stages:
        print(f"| {name} | {1e3 * s:.0f} |")
    cfg = {"dataset": args.dataset, "optimizer": "adamw", "lr": 1e-3, "epochs": 3,
           "batch_size": args.batch_size, "device": str(device)}
    for label in ("whole trial, 2nd in process", "whole trial, 3rd in process"):
        out = vision.train(cfg, lambda r: None)
        print(f"| {label} | {1e3 * out['wall_time']:.0f} | data {out['data_time']:.3f} s, setup "
              f"{out['setup_time']:.3f} s, training {out['train_time']:.3f} s, eval {out['eval_time']:.3f} s |")
        cfg["batch_size"] += 32  # a new shape, as the next tune trial would bring


if __name__ == "__main__":
    main()
