"""Every point the study can hand to a runner builds with optim.build: sampled, default and paper."""
from __future__ import annotations

import optuna
import pytest
import torch

import optim
import search_spaces
from runners.models import build_model

optuna.logging.set_verbosity(optuna.logging.WARNING)
RUNNER_ONLY = {"batch_size"}


def _hparams(point: dict) -> dict:
    return {k: v for k, v in point.items() if k not in RUNNER_ONLY}


def test_registries_agree():
    assert sorted(search_spaces.names()) == sorted(optim.names())


@pytest.mark.parametrize("name", search_spaces.names())
def test_sampled_default_and_paper_points_build_and_step(name):
    model = build_model("convnet", 1, 10)
    points = [search_spaces.default_point(name)]
    for paper, task in (("thermolion", "digits"), ("sepnorm", "cifar10-resnet20"), ("sepnorm", "glue-cola")):
        point = search_spaces.paper_point(name, paper, task)
        if point is not None:
            points.append(point)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    sample = search_spaces.define_by_run(name)
    for _ in range(8):
        trial = study.ask()
        points.append(sample(trial))
        study.tell(trial, 0.0)
    x, y = torch.randn(4, 1, 32, 32), torch.randint(0, 10, (4,))
    for point in points:
        optimizer = optim.build(name, model, **_hparams(point))
        before = [p.detach().clone() for p in model.parameters()]
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        changed = sum(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
        assert changed > 0, (name, point)
