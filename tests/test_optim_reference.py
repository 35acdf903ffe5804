"""The study's optimizers against published oracles and loop-per-tensor references of their equations."""

import copy
import functools
import math

import pytest
import torch

import optim._common as optim_common
import optim.thermolion as thermolion_module
from devices import TEST_DEVICE
from optim import SWATS, Lion, Lookahead, MuonAdamW, NotebookMuAdam, OrtSepNorm, SepNorm, ThermoLion

SHAPES = [(6, 5), (7,), (3, 2, 2)]


def make_params(dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen, dtype=dtype).to(TEST_DEVICE) for s in SHAPES]


def grad_sequence(steps, dtype=torch.float64, seed=1, zero_tensor=None):
    """Fixed gradients; ``zero_tensor`` index gets all-zero gradients, and some entries are 0."""
    gen = torch.Generator().manual_seed(seed)
    seq = []
    for _ in range(steps):
        grads = [torch.randn(s, generator=gen, dtype=dtype) for s in SHAPES]
        grads[0].view(-1)[:3] = 0.0
        if zero_tensor is not None:
            grads[zero_tensor].zero_()
        seq.append([g.to(TEST_DEVICE) for g in grads])
    return seq


def run(opt_factory, init, grads_seq):
    params = [torch.nn.Parameter(p.clone()) for p in init]
    opt = opt_factory(params)
    for grads in grads_seq:
        for p, g in zip(params, grads):
            p.grad = g.clone()
        opt.step()
    return [p.detach() for p in params], opt


# ---------------------------------------------------------------- Lion


def test_lion_matches_lion_pytorch():
    lion_pytorch = pytest.importorskip("lion_pytorch")
    init, seq = make_params(torch.float32), grad_sequence(25, torch.float32)
    ours, opt = run(lambda p: Lion(p, lr=3e-3, betas=(0.8, 0.95), weight_decay=0.1), init, seq)
    ref, ref_opt = run(
        lambda p: lion_pytorch.Lion(p, lr=3e-3, betas=(0.8, 0.95), weight_decay=0.1), init, seq
    )
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    for p, q in zip(opt.param_groups[0]["params"], ref_opt.param_groups[0]["params"]):
        torch.testing.assert_close(opt.state[p]["exp_avg"], ref_opt.state[q]["exp_avg"])


# ---------------------------------------------------------------- SepNorm / OrtSepNorm


def ref_sepnorm(init, seq, segments, lr, betas, wds, orthogonal=False):
    """Loop-per-tensor SepNorm/OrtSepNorm; ``segments`` lists the tensor indices of each group."""
    b1, b2 = betas
    p = [x.clone() for x in init]
    m = [torch.zeros_like(x) for x in init]
    for grads in seq:
        u = [b1 * mi + (1 - b1) * g for mi, g in zip(m, grads)]
        upd = [None] * len(p)
        for seg in segments:
            if orthogonal:
                dot = sum((u[i] * p[i]).sum() for i in seg)
                w2 = sum((p[i] ** 2).sum() for i in seg)
                if w2 > 0:
                    for i in seg:
                        u[i] = u[i] - dot / w2 * p[i]
            norm = math.sqrt(sum(float((u[i] ** 2).sum()) for i in seg))
            size = sum(p[i].numel() for i in seg)
            for i in seg:
                upd[i] = lr * math.sqrt(size) * u[i] / norm if norm > 0 else torch.zeros_like(u[i])
        p = [pi * (1 - lr * wd) - ui for pi, ui, wd in zip(p, upd, wds)]
        m = [b2 * mi + (1 - b2) * g for mi, g in zip(m, grads)]
    return p


@pytest.mark.parametrize("cls", [SepNorm, OrtSepNorm])
@pytest.mark.parametrize("norm", ["tensor", "group", "global"])
def test_sepnorm_matches_reference(cls, norm):
    init, seq = make_params(), grad_sequence(12, zero_tensor=1)
    lr, betas = 0.01, (0.9, 0.99)
    # group mode: tensors 0 and 2 form one normalization group split over two param_groups
    # (different weight decay, shared norm_group), tensor 1 is its own group.
    groups = lambda p: [  # noqa: E731
        {"params": [p[0]], "weight_decay": 0.1, "norm_group": "a"},
        {"params": [p[1]], "weight_decay": 0.1},
        {"params": [p[2]], "weight_decay": 0.0, "norm_group": "a"},
    ]
    segments = {"tensor": [[0], [1], [2]], "group": [[0, 2], [1]], "global": [[0, 1, 2]]}[norm]
    ours, _ = run(lambda p: cls(groups(p), lr=lr, betas=betas, norm=norm), init, seq)
    ref = ref_sepnorm(init, seq, segments, lr, betas, [0.1, 0.1, 0.0], cls is OrtSepNorm)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
        assert torch.isfinite(a).all()


def test_sepnorm_element_is_lion_exactly():
    init, seq = make_params(torch.float32), grad_sequence(10, torch.float32, zero_tensor=2)
    ours, _ = run(lambda p: SepNorm(p, lr=1e-2, weight_decay=0.2, norm="element"), init, seq)
    lion, _ = run(lambda p: Lion(p, lr=1e-2, weight_decay=0.2), init, seq)
    for a, b in zip(ours, lion):
        assert torch.equal(a, b)


def test_normgd_equals_reference_and_zero_update_is_zero():
    init = make_params()
    zero = [[torch.zeros(s, dtype=torch.float64, device=TEST_DEVICE) for s in SHAPES]] * 3
    ours, _ = run(lambda p: SepNorm(p, lr=0.1, norm="global"), init, zero)
    for a, b in zip(ours, init):
        assert torch.equal(a, b)


@pytest.mark.parametrize("norm", ["tensor", "group", "global"])
def test_ortsepnorm_update_is_orthogonal_per_group(norm):
    init, seq = make_params(), grad_sequence(5)
    groups = lambda p: [{"params": p[:2]}, {"params": p[2:]}]  # noqa: E731
    params, opt = run(lambda p: OrtSepNorm(groups(p), lr=0.05, norm=norm), init, seq[:4])
    before = [p.clone() for p in params]
    for p, g in zip(opt.param_groups[0]["params"] + opt.param_groups[1]["params"], seq[4]):
        p.grad = g.clone()
    opt.step()
    segments = {"tensor": [[0], [1], [2]], "group": [[0, 1], [2]], "global": [[0, 1, 2]]}[norm]
    for seg in segments:
        upd = [params[i] - before[i] for i in seg]
        dot = sum((u * before[i]).sum() for u, i in zip(upd, seg))
        scale = math.sqrt(sum(float((u**2).sum()) for u in upd) * sum(float((before[i] ** 2).sum()) for i in seg))
        assert scale > 0 and abs(float(dot)) < 1e-12 * scale


# ---------------------------------------------------------------- ThermoLion


def ref_thermolion(init, seq, lr, betas, c, boost, weight_decay, eps):
    """The ThermoLion reference step (ahmednebli/ThermoLion v0.1.0) with its noise off."""
    b1, b2 = betas
    p = [x.clone() for x in init]
    m = [torch.zeros_like(x) for x in init]
    v = [torch.zeros_like(x) for x in init]
    for grads in seq:
        for i, g in enumerate(grads):
            m[i].mul_(b1).add_(g, alpha=1 - b1)
            v[i].mul_(b2).addcmul_(g, g, value=1 - b2)
            gate = torch.tanh(m[i].abs() / (v[i].sqrt() + eps))
            sign_m = torch.sign(m[i])
            align = torch.clamp(sign_m * torch.sign(g), 0.0, 1.0)
            step = (1 - gate) * sign_m * (1 + boost * align) * lr + gate * (m[i] / (v[i].sqrt() + eps)) * lr * c
            p[i].mul_(1 - lr * weight_decay)
            p[i].sub_(step)
    return p


@pytest.fixture(params=["chunked", "small_chunks", "multi_tensor", "compiled"])
def thermolion_path(request, monkeypatch):
    """ThermoLion's CPU chunked path (one chunk, or many of 7 entries), its multi-tensor path and
    that path under torch.compile (inductor's C++ backend on the CPU; ``compiled=True``, with the
    gate diagnostic on, which changes no update)."""
    if request.param == "small_chunks":
        monkeypatch.setattr(thermolion_module, "CHUNK", 7)
    if request.param == "multi_tensor":
        monkeypatch.setattr(thermolion_module, "use_chunks", lambda *lists: False)
    if request.param == "compiled":  # diagnostics on throughout: the tests share graphs (compiling is slow)
        monkeypatch.setattr(optim_common, "COMPILE_BACKEND", "inductor")  # the suite's one inductor graph
        monkeypatch.setattr(ThermoLion, "__init__",
                            functools.partialmethod(ThermoLion.__init__, compiled=True, diagnostics=True))
    return request.param


def test_thermolion_noise_off_matches_reference(thermolion_path):
    init, seq = make_params(), grad_sequence(15, zero_tensor=1)
    hp = dict(lr=2e-3, betas=(0.85, 0.97), c=1.5, boost=0.3, weight_decay=0.05, eps=1e-8)
    ours, _ = run(lambda p: ThermoLion(p, temp_decay=0.01, **hp), init, seq)
    ref = ref_thermolion(init, seq, **hp)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)


def test_thermolion_noise_has_the_reference_mean_and_std(thermolion_path):
    """One noisy step against the same step without noise: the difference divided by
    lr*(1-gate)*sqrt(temp*mean(v)+1e-10) must be N(0, 1), for each tensor on its own mean(v)."""
    torch.manual_seed(0)
    shapes, scales = [(200, 150), (30000,)], [1.0, 50.0]
    init = [torch.randn(s, dtype=torch.float64) for s in shapes]
    seq = [[torch.randn(s, dtype=torch.float64) * k for s, k in zip(shapes, scales)] for _ in range(4)]
    lr, eps = 1e-2, 1e-8
    noisy, opt = run(lambda p: ThermoLion(p, lr=lr, weight_decay=0.0, eps=eps), init, seq[:3])
    det_params = [torch.nn.Parameter(p.clone()) for p in noisy]
    det = ThermoLion(det_params, lr=lr, weight_decay=0.0, eps=eps, compiled=False)  # the eager reference
    det.load_state_dict(copy.deepcopy(opt.state_dict()))
    det.param_groups[0]["temp_decay"] = 0.01  # temp 0.99^3 * 0.01 < 0.01: no noise
    for p, q, g in zip(opt.param_groups[0]["params"], det_params, seq[3]):
        p.grad, q.grad = g.clone(), g.clone()
    opt.step()
    det.step()
    temp = 0.99**4
    for p, q in zip(opt.param_groups[0]["params"], det_params):
        m, v = opt.state[p]["exp_avg"], opt.state[p]["exp_avg_sq"]
        gate = torch.tanh(m.abs() / (v.sqrt() + eps))
        std = math.sqrt(temp * float(v.mean()) + 1e-10)
        z = (q - p).detach() / (lr * (1 - gate) * std)
        n = z.numel()
        assert abs(float(z.mean())) < 5 / math.sqrt(n)
        assert abs(float(z.std()) - 1) < 5 / math.sqrt(2 * n)


def test_thermolion_diagnostics_gate_mean(thermolion_path):
    init, seq = make_params(), grad_sequence(3)
    _, opt = run(lambda p: ThermoLion(p, temp_decay=0.01, diagnostics=True), init, seq)
    params = opt.param_groups[0]["params"]
    m = [opt.state[p]["exp_avg"] for p in params]
    v = [opt.state[p]["exp_avg_sq"] for p in params]
    gates = torch.cat([torch.tanh(a.abs() / (b.sqrt() + 1e-8)).reshape(-1) for a, b in zip(m, v)])
    torch.testing.assert_close(opt.diagnostics()["gate_mean/0"].double(), gates.mean(), rtol=1e-6, atol=0)


# ---------------------------------------------------------------- MuAdam (notebook)


def test_notebook_muadam_matches_notebook_rule():
    init, seq = make_params(), grad_sequence(10)
    lr, (b1, b2), eps, wd = 1e-2, (0.9, 0.999), 1e-8, 0.1
    ours, _ = run(lambda p: NotebookMuAdam(p, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd), init, seq)
    p = [x.clone() for x in init]
    m = [torch.zeros_like(x) for x in init]
    v = [torch.zeros_like(x) for x in init]
    for grads in seq:
        for i, g in enumerate(grads):
            p[i].mul_(1 - lr * wd)
            m[i].mul_(b1).add_(g, alpha=1 - b1)
            v[i].mul_(b2).addcmul_(g, g, value=1 - b2)
            p[i].add_((m[i] * b1 + g * (1 - b1)) / (v[i].sqrt() + eps), alpha=-lr)
    for a, b in zip(ours, p):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)


# ---------------------------------------------------------------- Muon


def test_muon_matches_torch_muon_on_2d_and_flattens_conv_filters():
    gen = torch.Generator().manual_seed(3)
    w2d, w4d = torch.randn(8, 12, generator=gen), torch.randn(6, 2, 3, 3, generator=gen)
    seq = [[torch.randn(8, 12, generator=gen), torch.randn(6, 2, 3, 3, generator=gen)] for _ in range(5)]
    hp = dict(lr=0.02, momentum=0.9, weight_decay=0.1)
    ours, _ = run(lambda p: MuonAdamW([{"params": p, "use_muon": True, **hp}]), [w2d, w4d], seq)
    flat_seq = [[g[0], g[1].reshape(6, -1)] for g in seq]
    ref, _ = run(lambda p: torch.optim.Muon(p, nesterov=True, **hp), [w2d, w4d.reshape(6, -1)], flat_seq)
    torch.testing.assert_close(ours[0], ref[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(ours[1].reshape(6, -1), ref[1], rtol=0, atol=1e-6)


def test_muon_adamw_part_is_torch_adamw():
    init, seq = make_params(), grad_sequence(6)
    hp = dict(lr=1e-2, betas=(0.9, 0.95), eps=1e-10, weight_decay=0.1)
    ours, _ = run(lambda p: MuonAdamW([{"params": p, "use_muon": False, **hp}]), init, seq)
    ref, _ = run(lambda p: torch.optim.AdamW(p, **hp), init, seq)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-14)


# ---------------------------------------------------------------- SWATS


def test_swats_adam_phase_is_torch_adam():
    init, seq = make_params(), grad_sequence(20)
    ours, opt = run(lambda p: SWATS(p, lr=1e-2, weight_decay=0.01), init, seq)
    ref, _ = run(lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=0.01), init, seq)
    assert opt.param_groups[0]["phase"] == "adam"
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)


def test_swats_matches_pytorch_optimizer_where_semantics_agree():
    """Where they agree: one tensor per group (pytorch-optimizer decides the switch per tensor, we
    per group), no weight decay, no nesterov (its nesterov update reduces to plain buf), and a
    negligible eps (it adds eps to sqrt(v) before the bias correction; with eps=1e-8 that makes
    gamma drift by ~2e-8 a step on a constant gradient, so it never switches while torch Adam's
    form switches at step 2). Constant gradients switch both at step 2, then SGD steps follow."""
    po = pytest.importorskip("pytorch_optimizer")
    gen = torch.Generator().manual_seed(5)
    init = [torch.randn(20, generator=gen, dtype=torch.float64)]
    const = torch.randn(20, generator=gen, dtype=torch.float64)
    seq = [[const.clone()] for _ in range(4)]
    seq += [[torch.randn(20, generator=gen, dtype=torch.float64)] for _ in range(6)]
    ours, opt = run(lambda p: SWATS(p, lr=1e-2, eps=1e-12), init, seq)
    ref, ref_opt = run(lambda p: po.SWATS(p, lr=1e-2, eps=1e-12, foreach=False), init, seq)
    assert opt.param_groups[0]["phase"] == ref_opt.param_groups[0]["phase"] == "sgd"
    assert opt.param_groups[0]["switch_step"] == 2
    assert float(opt.param_groups[0]["switch_lr"]) == pytest.approx(ref_opt.param_groups[0]["lr"], rel=1e-6)
    torch.testing.assert_close(ours[0], ref[0], rtol=1e-7, atol=1e-7)


# ---------------------------------------------------------------- Lookahead


def test_lookahead_matches_pytorch_optimizer():
    po = pytest.importorskip("pytorch_optimizer")
    init, seq = make_params(), grad_sequence(13)
    inner = lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)  # noqa: E731
    ours, _ = run(lambda p: Lookahead(inner(p), k=3, alpha=0.4), init, seq)
    ref, _ = run(lambda p: po.Lookahead(inner(p), k=3, alpha=0.4), init, seq)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-14)

