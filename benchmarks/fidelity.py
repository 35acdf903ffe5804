"""Max differences of the issue-13 fixes from their references, on the tests' fixed inputs.

The references are the transcriptions in tests/test_optim_fidelity.py (ThermoLion notebook's
Lookahead, KellerJordan/Muon's update) and pytorch-optimizer's SWATS. Run from the repository root:
``.venv/bin/python benchmarks/fidelity.py``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import test_optim_fidelity as fid  # noqa: E402

from optim import SWATS, Lookahead, MuonAdamW, NotebookLookahead, OrtSepNorm  # noqa: E402


def max_abs(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


def lookahead_resume() -> dict[str, float]:
    out = {}
    for cls in (Lookahead, NotebookLookahead):
        straight, _ = fid._tiny_run(cls, 12)
        resumed, _ = fid._tiny_run(cls, 12, resume_at=5)
        out[cls.__name__] = max_abs([straight], [resumed])
    return out


def lookahead_paper() -> float:
    shapes, seq = [(4, 3), (6,)], fid._fixed_grads([(4, 3), (6,)], 17)
    runs = []
    for make in (NotebookLookahead, fid.NotebookLookaheadReference):
        params = fid._params(shapes)
        opt = make(torch.optim.Adam(params, lr=0.05), k=5, alpha=0.5)
        for grads in seq:
            for p, g in zip(params, grads):
                p.grad = g.clone()
            opt.step()
        runs.append([p.detach() for p in params])
    return max_abs(*runs)


def swats_schedule() -> float:
    cosine = lambda t: 0.5 * (1 + math.cos(math.pi * t / 10))  # noqa: E731
    lam = float(fid._swats_run(lambda t: 1.0)[2].param_groups[0]["switch_lr"])
    grads, deltas, opt = fid._swats_run(cosine)
    beta1, buf, worst = opt.param_groups[0]["betas"][0], torch.zeros_like(grads[0]), 0.0
    for t in range(2, len(grads)):
        buf = beta1 * buf + grads[t]
        worst = max(worst, float((deltas[t] + lam * cosine(t) * (1 - beta1) * buf).abs().max()))
    return worst


def swats_pytorch_optimizer() -> float:
    import pytorch_optimizer as po

    gen = torch.Generator().manual_seed(5)
    init = torch.randn(20, generator=gen, dtype=torch.float64)
    const = torch.randn(20, generator=gen, dtype=torch.float64)
    seq = [const.clone() for _ in range(4)] + [torch.randn(20, generator=gen, dtype=torch.float64)
                                                for _ in range(6)]
    finals = []
    for make in (lambda p: SWATS(p, lr=1e-2, eps=1e-12), lambda p: po.SWATS(p, lr=1e-2, eps=1e-12, foreach=False)):
        p = torch.nn.Parameter(init.clone())
        opt = make([p])
        for g in seq:
            p.grad = g.clone()
            opt.step()
        finals.append([p.detach()])
    return max_abs(*finals)


def muon(shape: tuple[int, ...]) -> float:
    lr, momentum, wd = 0.02, 0.95, 0.1
    seq = fid._fixed_grads([shape], 4, dtype=torch.float32)
    ours = fid._params([shape], dtype=torch.float32)
    opt = MuonAdamW([{"params": ours, "use_muon": True, "lr": lr, "momentum": momentum, "weight_decay": wd}])
    ref, buf = ours[0].detach().clone(), torch.zeros(shape)
    for (g,) in seq:
        ours[0].grad = g.clone()
        opt.step()
        ref.mul_(1 - lr * wd).add_(fid._muon_update_reference(g.clone(), buf, momentum).reshape(shape).float(),
                                   alpha=-lr)
    return max_abs([ours[0].detach()], [ref])


def ortsepnorm_scalar(dtype: torch.dtype) -> float:
    scalar, matrix = fid._params([(1,), (5, 4)], dtype=dtype)
    start = scalar.detach().clone()
    opt = OrtSepNorm([{"params": [scalar]}, {"params": [matrix]}], lr=0.1, norm="tensor")
    for grads in fid._fixed_grads([(1,), (5, 4)], 20, dtype=dtype):
        scalar.grad, matrix.grad = grads
        opt.step()
    return float((scalar.detach() - start).abs().max())


def main() -> None:
    torch.set_num_threads(1)
    print("| item | reference | max abs difference |")
    print("|---|---|---|")
    for name, diff in lookahead_resume().items():
        print(f"| {name} + LambdaLR resumed at step 5 of 12 | uninterrupted run | {diff:.3g} |")
    print(f"| lookahead_paper, 17 Adam steps, k 5 | notebook Lookahead transcription | {lookahead_paper():.3g} |")
    print(f"| SWATS SGD phase under cosine | Lambda * factor * (1-b1) * buf | {swats_schedule():.3g} |")
    print(f"| SWATS, constant lr, switch at 2 | pytorch-optimizer SWATS | {swats_pytorch_optimizer():.3g} |")
    for shape in [(16, 4, 1, 1), (6, 2, 3, 3), (8, 12)]:
        bf16 = muon(shape)
        to_bf16 = torch.Tensor.bfloat16
        torch.Tensor.bfloat16 = lambda self: self.float()  # Newton-Schulz in float32 on both sides
        try:
            f32 = muon(shape)
        finally:
            torch.Tensor.bfloat16 = to_bf16
        print(f"| Muon {shape}, 4 steps, NS in bf16 / float32 | KellerJordan/Muon muon_update | "
              f"{bf16:.3g} / {f32:.3g} |")
    for dtype in (torch.float32, torch.float64):
        print(f"| OrtSepNorm 1-element group, 20 steps, {dtype} | no movement | {ortsepnorm_scalar(dtype):.3g} |")


if __name__ == "__main__":
    main()
