"""Vision models (the paper's ConvNet exactly, CIFAR ResNets, ViT) and the epoch diagnostics."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import optim
from runners import diagnostics
from runners.models import MODELS, build_model


def test_convnet_is_the_papers_architecture():
    net = build_model("convnet", 3, 43)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (3, 32, (3, 3), (1, 1)), (32, 64, (3, 3), (1, 1))]
    assert [(fc.in_features, fc.out_features) for fc in linears] == [(64 * 8 * 8, 256), (256, 43)]
    feats = net.block2(net.block1(torch.zeros(2, 3, 32, 32)))
    assert feats.shape == (2, 64, 8, 8)
    assert sum(p.numel() for p in build_model("convnet", 1, 10).parameters()) == (
        (1 * 32 * 9 + 32) + (32 * 64 * 9 + 64) + (4096 * 256 + 256) + (256 * 10 + 10))


def test_resnet20_is_the_cifar_resnet_with_batchnorm():
    net = build_model("resnet20", 3, 10)
    weighted = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(weighted) == 20 and sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 19
    assert sum(p.numel() for p in net.parameters()) == 269_722  # He et al. option A: 0.27M
    assert [name for name, _ in net.named_children()] == ["stem", "stage1", "stage2", "stage3", "head"]


@pytest.mark.parametrize("name", MODELS)
def test_every_model_maps_32x32_images_to_logits(name):
    torch.manual_seed(0)
    net = build_model(name, 1, 7)
    out = net(torch.randn(3, 1, 32, 32))
    assert out.shape == (3, 7) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match="'vgg11'"):
        build_model("vgg11", 3, 10)


def _bn_net_after_one_step():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for p in net.parameters():
        p.grad = torch.ones_like(p)
    opt.step()  # every momentum buffer is now non-zero
    lin, bn = net
    lin.weight.grad = torch.zeros(4, 3)
    lin.weight.grad[0] = 1.0  # 9 zero-gradient elements
    lin.bias.grad = torch.zeros(4)  # 4
    bn.weight.grad = torch.ones(4)  # 0
    bn.bias.grad = torch.zeros(4)  # 4
    return net, opt


def test_momentum_tracing_counts_zero_gradients_with_live_momentum():
    net, opt = _bn_net_after_one_step()
    diag = diagnostics.collect(net, opt)
    assert diag["diag/momentum_tracing"] == 17
    expected = torch.cat([p.detach().double().flatten() for p in net.parameters()]).norm()
    assert diag["diag/weight_norm/0"] == pytest.approx(float(expected))
    wrapped = optim.Lookahead(opt)  # momentum found in the wrapped optimizer
    assert diagnostics.collect(net, wrapped)["diag/momentum_tracing"] == 17


def test_weight_norms_follow_norm_groups_and_optimizer_diagnostics_pass_through():
    net = build_model("convnet", 1, 10)
    opt = optim.build("thermolion", net, lr=1e-3)
    opt.diagnostics()  # switches gate tracking on
    loss = net(torch.randn(4, 1, 32, 32)).square().mean()
    loss.backward()
    opt.step()
    diag = diagnostics.collect(net, opt)
    assert "diag/momentum_tracing" not in diag
    gates = [v for k, v in diag.items() if k.startswith("diag/gate_mean/")]
    assert gates and all(0.0 <= g <= 1.0 for g in gates)
    sep = optim.build("sepnorm", net, groups="block")
    norms = diagnostics.collect(net, sep)
    blocks = [net.block1, net.block2, net.classifier]
    for i, block in enumerate(blocks):
        ref = torch.cat([p.detach().double().flatten() for p in block.parameters()]).norm()
        assert norms[f"diag/weight_norm/{i}"] == pytest.approx(float(ref), rel=1e-5)
        assert norms[f"diag/group_size/{i}"] == sum(p.numel() for p in block.parameters())
