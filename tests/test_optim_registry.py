"""optim.build / names, the param-group definitions, and bit-exact state_dict round trips."""

import copy

import pytest
import torch
from torch import nn

import optim
from optim.groups import param_groups, partition

REQUIRED = {"adam", "adamw", "rmsprop", "sgd", "lion", "normgd", "sepnorm", "ortsepnorm",
            "thermolion", "swats", "lookahead", "swa", "muon", "muadam_paper"}


class Net(nn.Module):
    """A wrapper whose only child is a Sequential of stages (stem, stage, head)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()),
            nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(2), nn.Flatten()),
            nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3)),
        )

    def forward(self, x):
        return self.body(x)


def batch(seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(4, 3, 6, 6, generator=gen), torch.randint(0, 3, (4,), generator=gen)


def train(model, opt, seeds):
    for s in seeds:
        x, y = batch(s)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        torch.manual_seed(100 + s)  # ThermoLion's noise draws
        opt.step()


def test_names_cover_the_study():
    assert REQUIRED <= set(optim.names())


def test_unknown_names_raise_naming_them():
    model = Net()
    with pytest.raises(ValueError, match="'nope'"):
        optim.build("nope", model)
    with pytest.raises(ValueError, match="betaa"):
        optim.build("adam", model, betaa=0.9)
    with pytest.raises(ValueError, match="momentum"):
        optim.build("lookahead", model, momentum=0.9)  # base adam has no momentum
    with pytest.raises(ValueError, match="'bogus'"):
        optim.build("sepnorm", model, groups="bogus")


def test_partitions_layer_and_block():
    model = Net()
    layers = partition(model, "layer")
    assert len(layers) == 6 and all(len({id(m) for m, _, _ in part}) == 1 for part in layers)
    blocks = partition(model, "block")  # descends through the lone Sequential: 3 stages
    assert [len(part) for part in blocks] == [4, 4, 4]
    assert len(partition(model, "global")) == 1


def test_wd_exempt_keeps_the_normalization_groups():
    model = Net()
    groups = param_groups(model, 0.1, wd_exempt=True, groups="layer")
    exempt = [g for g in groups if g["weight_decay"] == 0.0]
    assert sum(len(g["params"]) for g in exempt) == 8  # 4 biases + 2 BatchNorm weights and biases
    assert len({g["norm_group"] for g in groups}) == 6
    # with wd = 0 the exemption must not change SepNorm's update: the same normalization groups (split
    # over other param_groups, the norms are summed in another order: equal up to float32 rounding,
    # while a wrong grouping moves the weights by a sizeable fraction of lr)
    torch.manual_seed(0)
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    train(a, optim.build("sepnorm", a, groups="block", lr=1e-2), [0, 1, 2])
    train(b, optim.build("sepnorm", b, groups="block", lr=1e-2, wd_exempt=True), [0, 1, 2])
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_muon_edges_come_from_structure():
    model = Net()
    opt = optim.build("muon", model)
    muon = [p for g in opt.param_groups if g["use_muon"] for p in g["params"]]
    conv2, fc1 = model.body[1][0].weight, model.body[2][0].weight
    assert {id(p) for p in muon} == {id(conv2), id(fc1)}  # first conv and head go to AdamW


def test_swa_returns_base_with_procedure():
    opt = optim.build("swa", Net(), lr=0.01, momentum=0.9, swa_start=0.5, swa_lr=0.02)
    assert isinstance(opt, torch.optim.SGD) and opt.swa == {"start": 0.5, "lr": 0.02}
    with pytest.raises(ValueError, match="swa_start"):
        optim.build("swa", Net(), swa_start=1.5)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_state_dict_round_trip_is_bit_exact(name):
    torch.manual_seed(0)
    hp = {"wd_exempt": True, "weight_decay": 0.01}
    if name == "swats":
        hp["lr"] = 1e-2
    model = Net()
    opt = optim.build(name, model, **hp)
    train(model, opt, range(3))
    clone = copy.deepcopy(model)
    resumed = optim.build(name, clone, **hp)
    resumed.load_state_dict(copy.deepcopy(opt.state_dict()))
    train(model, opt, range(3, 9))
    train(clone, resumed, range(3, 9))
    for p, q in zip(model.parameters(), clone.parameters()):
        assert torch.equal(p, q), name
