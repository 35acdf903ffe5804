"""Optimizer steps on awkward parameter lists: empty tensors, mixed float types."""
import pytest
import torch
from torch import nn

import optim
from optim.sepnorm import OrtSepNorm, SepNorm


class WithEmpty(nn.Module):
    """A small net plus an empty weight (e.g. a zero-width layer of a pruned model)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 4)
        self.empty = nn.Parameter(torch.zeros(4, 0))

    def forward(self, x):
        return self.fc(x) + self.empty.sum()


@pytest.mark.parametrize("name", optim.names())
def test_every_optimizer_steps_over_an_empty_parameter(name):
    torch.manual_seed(0)
    model = WithEmpty()
    opt = optim.build(name, model)  # ThermoLion's first step adds noise: mean(v) of an empty tensor
    before = model.fc.weight.detach().clone()
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(8, 6)).square().mean().backward()
        opt.step()
    assert torch.isfinite(model.fc.weight).all() and not torch.equal(model.fc.weight, before)
    assert model.empty.shape == (4, 0)


def test_ortsepnorm_zero_floor_follows_each_tensors_own_float_type():
    """A 1-element bf16 weight has no direction orthogonal to itself: it must not move, wherever it
    stands in the list (the rounding floor was the first tensor's float type)."""
    moved = 0
    for seed in range(40):
        torch.manual_seed(seed)
        big = nn.Parameter(torch.randn(16))
        tiny = nn.Parameter(torch.randn(1).to(torch.bfloat16))
        opt = OrtSepNorm([big, tiny], lr=0.1, norm="tensor")
        big.grad, tiny.grad = torch.randn(16), torch.randn(1).to(torch.bfloat16)
        before = tiny.detach().clone()
        opt.step()
        moved += int(not torch.equal(tiny, before))
    assert moved == 0


@pytest.mark.parametrize("cls", [SepNorm, OrtSepNorm])
def test_sepnorm_normalizes_mixed_float32_and_float64_groups(cls):
    a, b = nn.Parameter(torch.randn(5)), nn.Parameter(torch.randn(3, dtype=torch.float64))
    opt = cls([a, b], lr=0.1, norm="global")
    a.grad, b.grad = torch.randn(5), torch.randn(3, dtype=torch.float64)
    opt.step()  # the norms are summed in the widest type (float32 first used to fail on float64)
    assert torch.isfinite(a).all() and torch.isfinite(b).all()
