"""The compiled optimizer steps (``compiled=True``, optim._common.CompiledStep) against the foreach
reference and the oracles: the full graphs dynamo captures, run by aot_eager on the CPU (see
tests/conftest.py; ``pytest --device cuda`` compiles them with inductor's Triton). ThermoLion's
compiled step through inductor (oracle, noise distribution, diagnostics) is the ``compiled`` case of
tests/test_optim_reference.py's ``thermolion_path`` fixture.
"""

import pytest
import torch
from torch import nn
from torch._dynamo.utils import counters

import optim
import optim.thermolion as thermolion_module
from optim import Lion, OrtSepNorm, ThermoLion
from test_optim_reference import grad_sequence, make_params, ref_sepnorm


def graphs() -> int:
    """Graphs dynamo has compiled in this process so far."""
    return counters["stats"]["unique_graphs"]


def run_with_schedule(factory, init, seq, lrs):
    """Step through ``seq`` with the lr of every param_group set to ``lrs[k]`` before step k."""
    params = [torch.nn.Parameter(p.clone()) for p in init]
    opt = factory(params)
    base = [g["lr"] for g in opt.param_groups]
    for grads, factor in zip(seq, lrs):
        for g, lr in zip(opt.param_groups, base):
            g["lr"] = lr * factor
        for p, g in zip(params, grads):
            p.grad = g.clone()
        opt.step()
    return [p.detach() for p in params]


def test_compiled_lion_equals_foreach_and_an_lr_schedule_compiles_one_graph():
    init, seq = make_params(), grad_sequence(8, zero_tensor=2)
    lrs = [1.0 - k / 8 for k in range(8)]  # a new lr every step, as a schedule sets it
    before = graphs()
    ours = run_with_schedule(lambda p: Lion(p, lr=3e-2, betas=(0.8, 0.95), weight_decay=0.1, compiled=True),
                             init, seq, lrs)
    assert graphs() - before == 1
    ref = run_with_schedule(lambda p: Lion(p, lr=3e-2, betas=(0.8, 0.95), weight_decay=0.1), init, seq, lrs)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)


def test_compiled_ortsepnorm_matches_the_reference_over_shared_normalization_groups():
    """Tensors 0 and 2 form one group split over two param_groups (different weight decay), as
    wd_exempt does; the compiled step normalizes them jointly, as the reference."""
    init, seq = make_params(), grad_sequence(10, zero_tensor=1)
    groups = lambda p: [  # noqa: E731
        {"params": [p[0]], "weight_decay": 0.1, "norm_group": "a"},
        {"params": [p[1]], "weight_decay": 0.1},
        {"params": [p[2]], "weight_decay": 0.0, "norm_group": "a"},
    ]
    ours = run_with_schedule(lambda p: OrtSepNorm(groups(p), lr=0.01, norm="group", compiled=True),
                             init, seq, [1.0] * 10)
    ref = ref_sepnorm(init, seq, [[0, 2], [1]], 0.01, (0.9, 0.99), [0.1, 0.1, 0.0], orthogonal=True)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_warm_up_compiles_the_runs_graph_and_changes_nothing():
    """warm_up compiles on copies: the parameters, their gradients and the state stay as they were,
    and the run's own steps then compile nothing (same shapes as the Lion test: no new C++ build)."""
    torch._dynamo.reset()  # nothing cached in this process: warm_up has to compile the graph
    init, seq = make_params(), grad_sequence(3)
    params = [torch.nn.Parameter(p.clone()) for p in init]
    opt = Lion(params, lr=3e-2, betas=(0.8, 0.95), weight_decay=0.1, compiled=True)
    params[1].grad = seq[0][1].clone()
    before = graphs()
    opt.warm_up(steps=3)
    assert all(torch.equal(p, q) for p, q in zip(params, init)) and not opt.state
    assert params[0].grad is None and torch.equal(params[1].grad, seq[0][1])
    compiled_by_warm_up = graphs() - before
    for grads in seq:
        for p, g in zip(params, grads):
            p.grad = g.clone()
        opt.step()
    assert graphs() - before == compiled_by_warm_up == 1


@pytest.mark.parametrize("steps, noise_free_graph", [(400, False), (500, True)])
def test_thermolion_warm_up_runs_the_noise_free_graph_if_the_noise_ends_in_time(steps, noise_free_graph, monkeypatch):
    """At temp_decay 0.99 the noise ends after step 458: warm_up(steps) runs the noisy graph, and
    the noise-free one only when ``steps`` gets there (recorded here, not compiled)."""
    calls = []

    def record(fn):
        def call(*args, noisy, **kwargs):
            calls.append(noisy)
            return fn(*args, noisy=noisy, **kwargs)
        return call

    monkeypatch.setattr(thermolion_module, "compiled", record)
    params = [torch.nn.Parameter(p.clone()) for p in make_params()]
    opt = ThermoLion(params, temp_decay=0.99, compiled=True)
    opt.warm_up(steps)
    assert calls == [(0, 1, 2), ()] if noise_free_graph else calls == [(0, 1, 2)]
    assert not opt.state


def test_compiled_is_only_offered_where_a_compiled_step_exists():
    model = nn.Linear(3, 2)
    assert optim.build("sepnorm", model, compiled=True).compiled
    assert not optim.build("sepnorm", model).compiled
    with pytest.raises(ValueError, match="no compiled step for optimizer 'adamw'"):
        optim.build("adamw", model, compiled=True)
