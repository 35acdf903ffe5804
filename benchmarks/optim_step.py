"""Optimizer step time as a ratio to torch.optim.AdamW(foreach=True) on the same parameters.

Parameter sets (``--params``): ``cnn-mlp`` (about 4.2 M floats over 12 tensors shaped like a small
CNN and an MLP), ``convnet`` (the ThermoLion paper's ConvNet, 1.1 M floats) and ``100m`` (24 blocks of
a 2048-wide MLP, 100.7 M floats). Every optimizer is timed interleaved with the others in one run
(rounds of one step each, median over rounds), on fixed random gradients; on CUDA torch's fused
AdamW is timed too. Run:
``.venv/bin/python benchmarks/optim_step.py [--rounds N] [--threads T] [--device cuda] [--params 100m]``;
``--cpu-time`` times each step by this thread's CPU time instead of the wall clock (steadier on a
shared machine; CPU device and one thread only). ``--compiled`` adds the ``compiled=True`` steps
(torch.compile, inductor) of Lion, SepNorm, OrtSepNorm and ThermoLion, each compiled by ``warm_up``
before the rounds; the compile time is printed beside each (a trial counts it in its setup).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from optim import Lion, OrtSepNorm, SepNorm, ThermoLion

PARAM_SETS = {
    "cnn-mlp": [
        (64, 3, 3, 3), (64,), (128, 64, 3, 3), (128,), (256, 128, 3, 3), (256,),
        (512, 256, 3, 3), (512,), (2048, 1024), (1024,), (1024, 512), (10, 1024),
    ],
    "convnet": [(32, 3, 3, 3), (32,), (64, 32, 3, 3), (64,), (256, 4096), (256,), (10, 256), (10,)],
    "100m": [(2048, 2048), (2048,)] * 24,
}


class RandnOnly:
    """Not an optimizer: one torch.randn per parameter, the floor of ThermoLion's noise draw."""

    def __init__(self, params):
        self.params = list(params)

    def step(self):
        for p in self.params:
            torch.randn(p.shape, out=torch.empty_like(p))


def ours(compiled: bool):
    """name -> factory(params) of the study's optimizers; ThermoLion with its noise (the first ~458
    steps) and without."""
    suffix = "_compiled" if compiled else ""
    return {
        "lion" + suffix: lambda p: Lion(p, lr=1e-4, weight_decay=0.1, compiled=compiled),
        "sepnorm_tensor" + suffix: lambda p: SepNorm(p, lr=1e-4, weight_decay=0.1, norm="tensor", compiled=compiled),
        "sepnorm_global" + suffix: lambda p: SepNorm(p, lr=1e-4, weight_decay=0.1, norm="global", compiled=compiled),
        "ortsepnorm_tensor" + suffix: lambda p: OrtSepNorm(p, lr=1e-4, weight_decay=0.1, norm="tensor",
                                                           compiled=compiled),
        "thermolion_noise_off" + suffix: lambda p: ThermoLion(p, temp_decay=0.01, compiled=compiled),
        "thermolion_noise_on" + suffix: lambda p: ThermoLion(p, temp_decay=1.0, compiled=compiled),
    }


def candidates(device: str, compiled: bool):
    """name -> factory(params): AdamW (foreach; fused on CUDA), ours (and compiled), randn alone."""
    fused = {"adamw_fused": lambda p: torch.optim.AdamW(p, lr=1e-3, fused=True)} if device.startswith("cuda") else {}
    return {
        "adamw_foreach": lambda p: torch.optim.AdamW(p, lr=1e-3, foreach=True),
        **fused,
        **ours(False),
        **(ours(True) if compiled else {}),
        "torch_randn_only": RandnOnly,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--params", choices=sorted(PARAM_SETS), default="cnn-mlp")
    parser.add_argument("--cpu-time", action="store_true", help="time steps by thread CPU time")
    parser.add_argument("--compiled", action="store_true", help="also time the compiled=True steps")
    args = parser.parse_args()
    if args.cpu_time and (args.threads != 1 or args.device != "cpu"):
        parser.error("--cpu-time needs --device cpu and --threads 1")
    clock = time.thread_time if args.cpu_time else time.perf_counter
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shapes = PARAM_SETS[args.params]
    init = [torch.randn(s, device=args.device) * 0.05 for s in shapes]
    grads = [torch.randn_like(p) for p in init]
    runs, compile_s = {}, {}
    for name, factory in candidates(args.device, args.compiled).items():
        params = [torch.nn.Parameter(p.clone()) for p in init]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        runs[name] = (factory(params), [])
        if getattr(runs[name][0], "compiled", False):
            start = time.perf_counter()
            runs[name][0].warm_up(args.rounds + 3)
            compile_s[name] = time.perf_counter() - start
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    for round_ in range(args.rounds + 3):
        for opt, times in runs.values():
            sync()
            start = clock()
            opt.step()
            sync()
            if round_ >= 3:  # warm-up rounds: lazy state, allocator
                times.append(clock() - start)
    base = statistics.median(runs["adamw_foreach"][1])
    n = sum(p.numel() for p in init)
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"{args.params}: {n / 1e6:.2f} M floats in {len(shapes)} tensors, device {device_name}, "
          f"threads {args.threads}, {args.rounds} interleaved rounds, "
          f"{'thread CPU time' if args.cpu_time else 'wall clock'}")
    print("| optimizer | median step (ms) | ratio to AdamW(foreach) | compile (s) |")
    print("|---|---|---|---|")
    for name, (_, times) in runs.items():
        med = statistics.median(times)
        compile_time = f"{compile_s[name]:.1f}" if name in compile_s else ""
        print(f"| {name} | {med * 1e3:.2f} | {med / base:.2f} | {compile_time} |")


if __name__ == "__main__":
    main()
