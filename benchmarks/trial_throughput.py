"""Throughput of one paper-protocol trial: our runner vs. the notebook's loop vs. pure compute.

The same work three ways, in one process: the ConvNet on the first 5000 images of the offline
``synthetic`` set (3x32x32), batch 1024, 12 epochs (60 steps), Adam at lr 1e-3, same device.

* ``runner``: ``runners.vision.train`` with ``protocol="paper"`` (per-epoch evaluation on the 5000
  images, final test evaluation, divergence checks, reports).
* ``reference``: the ThermoLion notebook's way: a torchvision-style ``Dataset`` of PIL images with
  per-sample ``Resize -> ToTensor -> Normalize`` and a shuffling ``DataLoader`` (num_workers=0),
  ``loss.item()`` every step, evaluation through the same DataLoader machinery.
* ``compute``: forward/backward/step on preloaded, already-normalized, contiguous float batches,
  plus exactly the runner's evaluation forward passes (so the whole-trial comparison is the same
  work); nothing else.

Reported: training-loop time (the runner's ``time_per_step * steps``; the reference's and the
compute loop's timed the same way), whole-trial wall time, and the runner's overhead over compute.
Usage: ``python benchmarks/trial_throughput.py [--threads 1] [--repeats 2] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
from torch.nn import functional as F

import optim
from runners import vision, vision_data
from runners.models import build_model

N, BATCH, EPOCHS, LR = 5000, 1024, 12, 1e-3


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_runner(device: torch.device) -> dict:
    out = vision.train({"dataset": "synthetic", "protocol": "paper", "optimizer": "adam", "lr": LR,
                        "batch_size": BATCH, "epochs": EPOCHS, "seed": 0, "device": str(device)},
                       lambda _: None)
    return {"train_s": out["train_time"], "wall_s": out["wall_time"], "steps": out["steps"],
            "score": out["score"], "data_s": out["data_time"], "eval_s": out["eval_time"],
            "setup_s": out["setup_time"]}


def run_compute(device: torch.device) -> dict:
    """Forward/backward/step on preloaded float batches, plus the runner's evaluation passes."""
    t0 = time.perf_counter()
    data = vision_data.load("synthetic")
    x = vision.to_input(data.train_x[:N].clone()).to(device)
    y = data.train_y[:N].to(device)
    tx, ty = vision.to_input(data.test_x.clone()).to(device), data.test_y.to(device)
    torch.manual_seed(0)
    model = build_model("convnet", 3, 10).to(device, memory_format=torch.channels_last)
    opt = optim.build("adam", model, lr=LR)
    g = torch.Generator(device=device).manual_seed(0)
    train_s, steps = 0.0, 0
    for _ in range(EPOCHS):
        perm = torch.randperm(N, generator=g, device=device)
        xs, ys = x[perm], y[perm]  # shuffled once per epoch, outside the timed loop
        sync(device)
        t = time.perf_counter()
        for s in range(0, N, BATCH):
            loss = F.cross_entropy(model(xs[s:s + BATCH]), ys[s:s + BATCH])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
        sync(device)
        train_s += time.perf_counter() - t
        model.eval()
        with torch.no_grad():
            correct = sum((model(x[s:s + vision.EVAL_BATCH]).argmax(1) == y[s:s + vision.EVAL_BATCH]).sum()
                          for s in range(0, N, vision.EVAL_BATCH))
        model.train()
        float(correct)
    model.eval()
    with torch.no_grad():
        float(sum((model(tx[s:s + vision.EVAL_BATCH]).argmax(1) == ty[s:s + vision.EVAL_BATCH]).sum()
                  for s in range(0, len(tx), vision.EVAL_BATCH)))
    return {"train_s": train_s, "wall_s": time.perf_counter() - t0, "steps": steps}


def runner_extra_per_step(device: torch.device, iters: int = 240) -> float:
    """Seconds per step of what the runner's hot loop adds to compute: the batch gather on the
    device, uint8 -> [-1, 1], the on-device loss sum and the divergence check every CHECK_EVERY
    steps. Timed alone, since the whole-trial difference is within the run-to-run noise."""
    data = vision_data.load("synthetic")
    x, y = data.train_x[:N].to(device), data.train_y[:N].to(device)
    g = torch.Generator(device=device).manual_seed(0)
    loss = torch.ones((), device=device)
    loss_sum = torch.zeros((), device=device)
    sync(device)
    t = time.perf_counter()
    for step in range(1, iters + 1):
        if step % 5 == 1:
            perm = torch.randperm(N, generator=g, device=device)
        s = (step % 5) * BATCH
        idx = perm[s:s + BATCH]
        xb, yb = vision.to_input(x[idx]), y[idx]
        loss_sum += loss.detach().float() * len(idx)
        if step % vision.CHECK_EVERY == 0 and not torch.isfinite(loss_sum):
            break
    sync(device)
    del xb, yb
    return (time.perf_counter() - t) / iters


class NotebookDataset(torch.utils.data.Dataset):
    """torchvision's dataset pattern: uint8 HWC array -> PIL image -> per-sample transform."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def run_reference(device: torch.device) -> dict:
    """The notebook's loop: DataLoader over per-sample transforms, loss.item() every step."""
    from torchvision import transforms

    t0 = time.perf_counter()
    data = vision_data.load("synthetic")
    tf = transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor(),
                             transforms.Normalize((0.5,) * 3, (0.5,) * 3)])
    train = NotebookDataset(data.train_x[:N].permute(0, 2, 3, 1).numpy(), data.train_y[:N].numpy(), tf)
    test = NotebookDataset(data.test_x.permute(0, 2, 3, 1).numpy(), data.test_y.numpy(), tf)
    loader = torch.utils.data.DataLoader(train, batch_size=BATCH, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = build_model("convnet", 3, 10).to(device)
    opt = optim.build("adam", model, lr=LR)

    def accuracy(ds) -> float:
        model.eval()
        correct = 0
        with torch.no_grad():
            for xb, yb in torch.utils.data.DataLoader(ds, batch_size=vision.EVAL_BATCH):
                correct += (model(xb.to(device)).argmax(1).cpu() == yb).sum().item()
        model.train()
        return correct / len(ds)

    train_s, steps = 0.0, 0
    for _ in range(EPOCHS):
        t = time.perf_counter()
        running = 0.0
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            running += loss.item()
            steps += 1
        train_s += time.perf_counter() - t
        accuracy(train)
    accuracy(test)
    return {"train_s": train_s, "wall_s": time.perf_counter() - t0, "steps": steps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repeats; the minimum counts")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = vision.resolve_device(args.device)
    vision_data.load("synthetic")  # data generation is not part of any variant's time
    runs = {"runner": [], "reference": [], "compute": []}
    fns = {"runner": run_runner, "reference": run_reference, "compute": run_compute}
    for r in range(args.repeats):
        for name, fn in fns.items():
            runs[name].append(fn(device))
            print(f"repeat {r} {name}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else
                                                    f"{k}={v}" for k, v in runs[name][-1].items()),
                  flush=True)
    best = {name: {k: min(d[k] for d in rs) for k in ("train_s", "wall_s")} for name, rs in runs.items()}
    print(f"\n{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"device {device}, threads {torch.get_num_threads()}, repeats {args.repeats} (min)")
    print("| variant | training loop s | whole trial s | steps |\n|---|---|---|---|")
    for name, b in best.items():
        print(f"| {name} | {b['train_s']:.2f} | {b['wall_s']:.2f} | {runs[name][0]['steps']} |")
    r, ref, c = best["runner"], best["reference"], best["compute"]
    cold, warm = runs["runner"][0], min(runs["runner"], key=lambda d: d["wall_s"])
    for label, d in (("first (cold)", cold), ("fastest (warm)", warm)):
        print(f"runner {label} trial: {d['wall_s']:.3f} s = data {d['data_s']:.3f} + setup {d['setup_s']:.3f}"
              f" + training {d['train_s']:.3f} + evaluation {d['eval_s']:.3f}")
    print(f"\nreference / runner: training loop {ref['train_s'] / r['train_s']:.2f}x, "
          f"whole trial {ref['wall_s'] / r['wall_s']:.2f}x")
    print(f"runner overhead over compute: training loop {100 * (r['train_s'] / c['train_s'] - 1):+.1f}%, "
          f"whole trial {100 * (r['wall_s'] / c['wall_s'] - 1):+.1f}%")
    extra = runner_extra_per_step(device)
    per_step = c["train_s"] / runs["compute"][0]["steps"]
    print(f"runner's hot-loop extras timed alone: {1e3 * extra:.2f} ms/step = "
          f"{100 * extra / per_step:.2f}% of the compute loop's {1e3 * per_step:.0f} ms/step")


if __name__ == "__main__":
    main()
