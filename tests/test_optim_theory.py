"""The SepNorm paper's theorems (paper 002), checked numerically on SepNorm without momentum."""

import math

import pytest
import torch

from optim import Lion, SepNorm


def test_theorem_4_2_weight_norm_of_scale_invariant_group():
    """||w|| -> lr*sqrt(n) / sqrt(2*lr*wd - lr^2*wd^2) for L_t(w) = <w/||w||, a_t> (scale-invariant)."""
    torch.manual_seed(0)
    lr, wd, n = 0.05, 0.5, 40
    w = torch.nn.Parameter(torch.randn(n, dtype=torch.float64) * 3)
    v = torch.nn.Parameter(torch.randn(10, dtype=torch.float64) * 0.1)  # a second group, own limit
    opt = SepNorm([w, v], lr=lr, betas=(0.0, 0.0), weight_decay=wd, norm="tensor")
    for _ in range(400):
        opt.zero_grad()
        loss = (w / w.norm() * torch.randn(n, dtype=torch.float64)).sum()
        loss = loss + (v / v.norm() * torch.randn(10, dtype=torch.float64)).sum()
        loss.backward()
        opt.step()
    limit = lambda size: lr * math.sqrt(size) / math.sqrt(2 * lr * wd - lr**2 * wd**2)  # noqa: E731
    assert float(w.detach().norm()) == pytest.approx(limit(n), rel=1e-6)
    assert float(v.detach().norm()) == pytest.approx(limit(10), rel=1e-6)


def quadratic_floor(opt_factory, a_blocks, lr, steps=1500):
    """max(L(w_t), L(w_t+1)) over the last steps of L(w) = 0.5 w^T A w, A block diagonal."""
    torch.manual_seed(1)
    params = [torch.nn.Parameter(torch.randn(a.shape[0], dtype=torch.float64)) for a in a_blocks]
    opt = opt_factory(params)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = sum(0.5 * w @ a @ w for w, a in zip(params, a_blocks))
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    tail = losses[-50:]
    return min(max(x, y) for x, y in zip(tail, tail[1:]))


def test_lemma_5_2_sign_gd_floor_on_diagonal_quadratic():
    """Sign GD (Lion without momentum) ends with L_max >= lr^2 Tr(A)/8 (and <= lr^2 Tr(A)/2)."""
    diag = torch.tensor([0.5, 1.0, 3.0, 10.0, 0.2], dtype=torch.float64)
    lr = 0.01
    floor = quadratic_floor(lambda p: Lion(p, lr=lr, betas=(0.0, 0.0)), [torch.diag(diag)], lr)
    bound = lr**2 * float(diag.sum()) / 8
    assert bound * (1 - 1e-9) <= floor <= 4 * bound


def test_theorem_5_4_block_floor():
    """SepNorm with one group per block: L_max >= lr^2/8 * sum_i lambda_max(A_i) |l_i| (<= 4x that)."""
    gen = torch.Generator().manual_seed(2)
    blocks = []
    for size in (3, 5, 2):
        q, _ = torch.linalg.qr(torch.randn(size, size, generator=gen, dtype=torch.float64))
        eig = torch.rand(size, generator=gen, dtype=torch.float64) * 4 + 0.5
        blocks.append(q @ torch.diag(eig) @ q.T)
    lr = 0.01
    floor = quadratic_floor(lambda p: SepNorm(p, lr=lr, betas=(0.0, 0.0), norm="tensor"), blocks, lr)
    bound = lr**2 / 8 * sum(float(torch.linalg.eigvalsh(a).max()) * a.shape[0] for a in blocks)
    assert bound * (1 - 1e-9) <= floor <= 4 * bound
