"""Prototype: K seeds of one config trained in one process as one vmapped model (torch.func).

The paper-protocol trial (ConvNet, the first 5000 ``synthetic`` images, batch 1024, 12 epochs) for
seeds 0..K-1, two ways on the same device:

* ``sequential``: K ordinary trials one after another (each its own model, optimizer and data order);
* ``vmapped``: the K models' parameters stacked (``stack_module_state``), one ``vmap`` of
  ``functional_call`` over (parameters, per-seed batches), one backward of the summed losses (each
  seed's gradient is its own), then each seed's own optimizer steps on *views* of the stacked
  parameters (``--opt-mode views``: right for any optimizer, per-tensor norms included), or one
  optimizer steps the stacked tensors (``--opt-mode stacked``: exact only for elementwise rules such
  as Adam and Lion, fewer kernel launches).

Same initial weights and the same per-seed data order in both, so the final weights should agree up
to float rounding (reported as the largest final-loss difference over seeds). Reported: seconds per
trial each way and the speedup.

    .venv/bin/python benchmarks/vmap_seeds.py --device cuda --ks 8,32 [--optimizer adam|thermolion]
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F

import optim
from runners import vision, vision_data
from runners.models import build_model

N, BATCH, LR = 5000, 1024, 1e-3
EPOCHS = 12  # --epochs


def make_optimizer(name: str, params):
    return torch.optim.Adam(params, lr=LR, foreach=True) if name == "adam" else optim.ThermoLion(params, lr=LR)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def new_model(seed: int, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("convnet", 3, 10).to(device)


def full_loss(model_fn, x, y) -> float:
    with torch.no_grad():
        return float(F.cross_entropy(model_fn(vision.to_input(x)), y))


def sequential(k: int, x, y, opt_name: str, device) -> tuple[float, list[float]]:
    sync(device)
    t = time.perf_counter()
    models = []
    for seed in range(k):
        model = new_model(seed, device)
        opt = make_optimizer(opt_name, model.parameters())
        gen = torch.Generator(device=device).manual_seed(seed)
        for _ in range(EPOCHS):
            perm = torch.randperm(N, generator=gen, device=device)
            for s in range(0, N, BATCH):
                idx = perm[s:s + BATCH]
                loss = F.cross_entropy(model(vision.to_input(x[idx])), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        models.append(model)
    sync(device)
    elapsed = time.perf_counter() - t
    return elapsed, [full_loss(m, x, y) for m in models]


def vmapped(k: int, x, y, opt_name: str, opt_mode: str, device) -> tuple[float, list[float]]:
    sync(device)
    t = time.perf_counter()
    models = [new_model(seed, device) for seed in range(k)]
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    stacked = list(params.values())
    if opt_mode == "stacked":
        optimizers = [make_optimizer(opt_name, stacked)]
    else:  # each seed's optimizer on views of the stacked parameters (they share storage)
        views = [[torch.nn.Parameter(p.detach()[s]) for p in stacked] for s in range(k)]
        optimizers = [make_optimizer(opt_name, v) for v in views]

    def loss_fn(p, b, xb, yb):
        return F.cross_entropy(functional_call(base, (p, b), (xb,)), yb)

    batched_loss = vmap(loss_fn)
    gens = [torch.Generator(device=device).manual_seed(seed) for seed in range(k)]
    for _ in range(EPOCHS):
        perms = torch.stack([torch.randperm(N, generator=g, device=device) for g in gens])
        for s in range(0, N, BATCH):
            idx = perms[:, s:s + BATCH]
            losses = batched_loss(params, buffers, vision.to_input(x[idx].flatten(0, 1)).unflatten(0, idx.shape), y[idx])
            for p in stacked:
                p.grad = None
            losses.sum().backward()
            if opt_mode == "views":
                for s_, v in enumerate(views):
                    for p, view in zip(stacked, v):
                        view.grad = p.grad[s_]
            for opt in optimizers:
                opt.step()
    sync(device)
    elapsed = time.perf_counter() - t
    finals = [full_loss(lambda inp, s_=s_: functional_call(base, ({n: p[s_] for n, p in params.items()},
                                                                   {n: b[s_] for n, b in buffers.items()}), (inp,)), x, y)
              for s_ in range(k)]
    return elapsed, finals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--ks", default="8,32")
    ap.add_argument("--optimizer", choices=("adam", "thermolion"), default="adam")
    ap.add_argument("--opt-mode", choices=("views", "stacked"), default="views")
    ap.add_argument("--epochs", type=int, default=12, help="fewer for a quick check on a CPU")
    args = ap.parse_args()
    global EPOCHS
    EPOCHS = args.epochs
    device = vision.resolve_device(args.device)
    data = vision_data.load("synthetic")
    x, y = data.train_x[:N].to(device), data.train_y[:N].to(device)
    sequential(1, x, y, args.optimizer, device)  # warm-up: CUDA context, cudnn autotuning
    vmapped(2, x, y, args.optimizer, args.opt_mode, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"{name}, torch {torch.__version__}, optimizer {args.optimizer}, opt-mode {args.opt_mode}")
    print("| K | sequential s/trial | vmapped s/trial | speedup | max final-loss diff |")
    print("|---|---|---|---|---|")
    for k in map(int, args.ks.split(",")):
        t_seq, l_seq = sequential(k, x, y, args.optimizer, device)
        t_vm, l_vm = vmapped(k, x, y, args.optimizer, args.opt_mode, device)
        diff = max(abs(a - b) for a, b in zip(l_seq, l_vm))
        print(f"| {k} | {t_seq / k:.3f} | {t_vm / k:.3f} | {t_seq / t_vm:.2f}x | {diff:.2e} |", flush=True)


if __name__ == "__main__":
    main()
