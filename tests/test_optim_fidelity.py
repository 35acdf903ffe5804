"""Fidelity to the authors' code (issue 13): each test pins one defect an audit found.

References are transcribed here from their sources (cited per test), never imported.
"""

import copy
import math

import pytest
import torch
from torch import nn

import optim
import search_spaces as ss
from devices import TEST_DEVICE
from optim import SWATS, Lookahead, MuonAdamW, NotebookLookahead, OrtSepNorm
from optim.groups import param_groups, partition
from runners.models import build_model

DEVICE = TEST_DEVICE


def _fixed_grads(shapes, steps, seed=1, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(s, generator=gen, dtype=dtype).to(DEVICE) for s in shapes] for _ in range(steps)]


def _params(shapes, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return [nn.Parameter(torch.randn(s, generator=gen, dtype=dtype).to(DEVICE)) for s in shapes]


# ---------------------------------------------------------------- Lookahead: resume keeps the schedule


def _tiny_run(wrapper, steps, resume_at=None):
    """Lookahead(Adam) + LambdaLR on a quadratic; optionally rebuilt from state_dicts at resume_at."""
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(5, dtype=torch.float64, device=DEVICE))
    target = torch.linspace(-1, 1, 5, dtype=torch.float64, device=DEVICE)

    def build(param):
        opt = wrapper(torch.optim.Adam([param], lr=0.006), k=3, alpha=0.5)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 - t / (steps + 1))
        return opt, sched

    opt, sched = build(w)
    for t in range(steps):
        if t == resume_at:
            state = copy.deepcopy((w.detach().clone(), opt.state_dict(), sched.state_dict()))
            w = nn.Parameter(state[0])
            opt, sched = build(w)
            opt.load_state_dict(state[1])
            sched.load_state_dict(state[2])
        loss = ((w - target) ** 2 * torch.arange(1, 6, device=DEVICE)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return w.detach(), opt


@pytest.mark.parametrize("wrapper", [Lookahead, NotebookLookahead])
def test_lookahead_resumed_under_lambdalr_equals_uninterrupted(wrapper):
    straight, _ = _tiny_run(wrapper, 12)
    resumed, opt = _tiny_run(wrapper, 12, resume_at=5)
    assert opt.param_groups is opt.optimizer.param_groups
    assert opt.optimizer.param_groups[0]["lr"] == pytest.approx(0.006 * (1 - 12 / 13))
    assert torch.equal(straight, resumed)


# ---------------------------------------------------------------- ThermoLion notebook's Lookahead


class NotebookLookaheadReference:
    """The ThermoLion notebook's Lookahead (ahmednebli/ThermoLion, ThermoLion_benchmarks.ipynb),
    transcribed: after each inner step, a group whose counter is 0 copies its weights as the slow
    weights; the counter then counts up and at k the fast weights become slow + alpha*(fast - slow)
    and the counter restarts at 0. So the slow copy is taken after the first fast step of a cycle."""

    def __init__(self, inner, k, alpha):
        self.inner, self.k, self.alpha = inner, k, alpha
        self.counter = {id(g): 0 for g in inner.param_groups}
        self.slow = {}

    @torch.no_grad()
    def step(self):
        self.inner.step()
        for group in self.inner.param_groups:
            if self.counter[id(group)] == 0:
                for p in group["params"]:
                    self.slow[p] = p.detach().clone()
            self.counter[id(group)] += 1
            if self.counter[id(group)] >= self.k:
                self.counter[id(group)] = 0
                for p in group["params"]:
                    p.sub_(self.slow[p]).mul_(self.alpha).add_(self.slow[p])
                    self.slow[p].copy_(p)


def test_lookahead_paper_matches_the_notebook_transcription():
    shapes = [(4, 3), (6,)]
    seq = _fixed_grads(shapes, 17)
    runs = []
    for make in (lambda inner: NotebookLookahead(inner, k=5, alpha=0.5),
                 lambda inner: NotebookLookaheadReference(inner, k=5, alpha=0.5),
                 lambda inner: Lookahead(inner, k=5, alpha=0.5)):
        params = _params(shapes)
        opt = make(torch.optim.Adam(params, lr=0.05))
        for grads in seq:
            for p, g in zip(params, grads):
                p.grad = g.clone()
            opt.step()
        runs.append(params)
    ours, ref, zhang = runs
    for a, b in zip(ours, ref):
        assert torch.equal(a, b)
    assert not all(torch.equal(a, b) for a, b in zip(ours, zhang))  # the two rules differ


def test_lookahead_paper_is_registered_with_lookaheads_names():
    model = build_model("convnet", 1, 10)
    opt = optim.build("lookahead_paper", model, k=4, alpha=0.3, lr=0.01)
    assert isinstance(opt, NotebookLookahead) and (opt.k, opt.alpha) == (4, 0.3)
    assert optim.defaults("lookahead_paper") == optim.defaults("lookahead")
    assert ss.accepted("lookahead_paper") == ss.accepted("lookahead")


# ---------------------------------------------------------------- SWATS under a schedule, no host sync


def _swats_run(schedule, steps=10):
    """SWATS on gradients that are constant for 4 steps (it switches at step 2) then random, with the
    lr set per step as runners/vision.py's cosine loop does. Returns per-step parameter deltas."""
    gen = torch.Generator().manual_seed(5)
    p = nn.Parameter(torch.randn(20, generator=gen, dtype=torch.float64).to(DEVICE))
    const = torch.randn(20, generator=gen, dtype=torch.float64).to(DEVICE)
    grads = [const.clone() for _ in range(4)]
    grads += [torch.randn(20, generator=gen, dtype=torch.float64).to(DEVICE) for _ in range(steps - 4)]
    opt = SWATS([p], lr=1e-2, eps=1e-12)
    lr0 = opt.param_groups[0]["lr"]
    deltas = []
    for t, g in enumerate(grads):
        opt.param_groups[0]["lr"] = lr0 * schedule(t)
        before = p.detach().clone()
        p.grad = g.clone()
        opt.step()
        deltas.append(p.detach() - before)
    return grads, deltas, opt


def test_swats_sgd_phase_steps_at_lambda_times_the_schedule_factor():
    cosine = lambda t: 0.5 * (1 + math.cos(math.pi * t / 10))  # noqa: E731
    _, _, flat = _swats_run(lambda t: 1.0)
    grads, deltas, opt = _swats_run(cosine)
    group = opt.param_groups[0]
    assert group["phase"] == "sgd" and group["switch_step"] == 2 == flat.param_groups[0]["switch_step"]
    lam = float(flat.param_groups[0]["switch_lr"])  # Lambda from an unscheduled run on the same grads
    torch.testing.assert_close(float(group["switch_lr"]), lam, rtol=1e-12, atol=0)
    beta1 = group["betas"][0]
    buf = torch.zeros_like(grads[0])
    for t in range(2, len(grads)):
        buf = beta1 * buf + grads[t]
        expected = -lam * cosine(t) * (1 - beta1) * buf
        torch.testing.assert_close(deltas[t], expected, rtol=1e-10, atol=1e-14)


def test_swats_step_makes_no_host_sync(monkeypatch):
    calls = []
    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "__index__"):
        original = getattr(torch.Tensor, name)

        def counting(self, *a, _name=name, _original=original, **k):
            calls.append(_name)
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counting)
    _, _, opt = _swats_run(lambda t: 1.0)
    assert opt.param_groups[0]["phase"] == "sgd"  # the switch was read
    assert calls == []


def test_swats_decay_range_is_the_coupled_one():
    """SWATS adds weight_decay to the gradient (L2, as torch's Adam and the paper's Adam phase), so
    the search draws it from the coupled range, as for adam and sgd."""
    assert ss.space("swats")["weight_decay"] == ss.space("adam")["weight_decay"]


# ---------------------------------------------------------------- Muon


def _muon_update_reference(grad, momentum, beta, steps=5):
    """KellerJordan/Muon ``muon_update`` + ``zeropower_via_newtonschulz5`` (nesterov), transcribed:
    the shape factor is sqrt(max(1, size(-2)/size(-1))) of the original tensor (kh/kw for a conv)."""
    momentum.lerp_(grad, 1 - beta)
    update = grad.lerp(momentum, beta)
    flat = update.reshape(len(update), -1) if update.ndim == 4 else update
    a, b, c = 3.4445, -4.7750, 2.0315
    x = flat.bfloat16()
    tall = x.size(-2) > x.size(-1)
    if tall:
        x = x.mT
    x = x / (x.norm(dim=(-2, -1), keepdim=True) + 1e-7)
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * gram @ gram) @ x
    if tall:
        x = x.mT
    return x * max(1, grad.size(-2) / grad.size(-1)) ** 0.5


@pytest.mark.parametrize("shape", [(16, 4, 1, 1), (6, 2, 3, 3), (8, 12), (12, 8)])
def test_muon_matches_kellerjordan_muon_including_conv_shape_factor(shape, monkeypatch):
    """Newton-Schulz runs in float32 on both sides here (bf16 rounds the two equal formulas
    differently by ~1e-3 of a step), so what remains is the update rule itself."""
    monkeypatch.setattr(torch.Tensor, "bfloat16", lambda self: self.float())
    lr, momentum, wd = 0.02, 0.95, 0.1
    seq = _fixed_grads([shape], 4, dtype=torch.float32)
    ours = _params([shape], dtype=torch.float32)
    opt = MuonAdamW([{"params": ours, "use_muon": True, "lr": lr, "momentum": momentum, "weight_decay": wd}])
    ref = ours[0].detach().clone()
    buf = torch.zeros_like(ref)
    for (g,) in seq:
        ours[0].grad = g.clone()
        opt.step()
        update = _muon_update_reference(g.clone(), buf, momentum)
        ref.mul_(1 - lr * wd).add_(update.reshape(shape), alpha=-lr)
    torch.testing.assert_close(ours[0].detach(), ref, rtol=0, atol=1e-6)


def test_muon_on_the_vit_takes_only_hidden_layer_weights():
    model = build_model("vit", 3, 10)
    opt = optim.build("muon", model)
    muon = {id(p) for g in opt.param_groups if g["use_muon"] for p in g["params"]}
    hidden = {id(p) for layer in model.encoder.layers
              for p in (layer.self_attn.in_proj_weight, layer.self_attn.out_proj.weight,
                        layer.linear1.weight, layer.linear2.weight)}
    assert muon == hidden  # not the cls / pos tokens, the patch embedding or the head


# ---------------------------------------------------------------- OrtSepNorm: rounding is not a step


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("norm", ["tensor", "group"])
def test_ortsepnorm_one_element_group_never_moves(norm, dtype):
    """A one-element group's update is parallel to its weight, so the projection leaves exactly 0
    in exact arithmetic; rounding residue must not be normalized into a full step."""
    scalar, matrix = _params([(1,), (5, 4)], dtype=dtype)
    start = scalar.detach().clone()
    groups = [{"params": [scalar]}, {"params": [matrix]}]
    opt = OrtSepNorm(groups, lr=0.1, norm=norm)
    for grads in _fixed_grads([(1,), (5, 4)], 20, dtype=dtype):
        scalar.grad, matrix.grad = grads
        opt.step()
    assert torch.equal(scalar.detach(), start)
    assert not torch.equal(matrix.detach(), _params([(1,), (5, 4)], dtype=dtype)[1])


# ---------------------------------------------------------------- group definitions on the ViT


def test_vit_blocks_are_its_transformer_layers():
    model = build_model("vit", 3, 10)
    blocks = [{id(p) for _, _, p in part} for part in partition(model, "block")]
    expected = [{id(p) for p in m.parameters()} for m in
                (model.embed, model.tokens, *model.encoder.layers, model.head)]
    assert blocks == expected


def test_wd_exempt_covers_attention_biases_and_tokens():
    model = build_model("vit", 3, 10)
    exempt = {id(p) for g in param_groups(model, 0.1, wd_exempt=True) if g["weight_decay"] == 0.0
              for p in g["params"]}
    names = {n for n, p in model.named_parameters() if id(p) in exempt}
    assert {"tokens.cls", "tokens.pos", "encoder.layers.0.self_attn.in_proj_bias"} <= names
    decayed = {n for n, p in model.named_parameters() if id(p) not in exempt}
    assert all(n.endswith("weight") and "norm" not in n for n in decayed), decayed


# ---------------------------------------------------------------- search space and defaults


@pytest.mark.parametrize("name", ["sepnorm", "ortsepnorm"])
def test_sepnorm_family_searches_its_own_groupings(name):
    """element is Lion and global is NormGD: own cells, not members of a SepNorm family."""
    assert ss.space(name)["groups"].choices == ("tensor", "layer", "block")


@pytest.mark.parametrize("name", ss.names())
def test_registry_defaults_are_the_default_points(name):
    point = ss.default_point(name)
    defaults = optim.defaults(name, point.get("base"))
    assert {k: defaults[k] for k in point if k != "batch_size"} == {k: v for k, v in point.items()
                                                                    if k != "batch_size"}


def test_thermolion_paper_phase_builds_the_notebooks_lookahead(tmp_path, monkeypatch):
    """Paper phase (both protocols): the lookahead cell runs lookahead_paper; its record keeps the
    cell's name. Default phase: Zhang et al.'s Lookahead."""
    pytest.importorskip("ray")
    from study import trainable
    from study.launch import cell_configs, fixed_configs
    from study.spec import StudySpec, validate

    spec = validate(StudySpec(tasks=["digits"], optimizers=["lookahead", "adam"], seeds=1,
                              storage=str(tmp_path), name="s", phases=["default", "paper"]))
    configs = fixed_configs(spec, cell_configs(spec, {"CPU": 1.0}), None, {})
    built = {}

    class FakeRunner:
        @staticmethod
        def train(config, report):
            built[config["_trial_id"]] = config["optimizer"]
            return {"status": "ok", "score": 0.0, "chance": 10.0}

    monkeypatch.setattr(trainable.importlib, "import_module", lambda name: FakeRunner)
    monkeypatch.setattr(trainable.tune, "report", lambda *a, **k: None)
    monkeypatch.setattr(trainable.tune, "get_context", lambda: type("C", (), {"get_trial_id": lambda s: "t"})())
    monkeypatch.setattr(trainable.tune, "get_checkpoint", lambda: None)
    monkeypatch.setattr(trainable.ray, "get_runtime_context",
                        lambda: type("R", (), {"get_assigned_resources": lambda s: {"CPU": 1.0}})())
    for config in configs:
        assert config["optimizer"] in ("lookahead", "adam")  # what the records show
        trainable.run_trial(config)
    assert {k: v for k, v in built.items() if "lookahead" in k} == {
        "default-digits-lookahead-fair-s1000": "lookahead",
        "paper-digits-lookahead-paper-s1000": "lookahead_paper",
        "paper-digits-lookahead-fair-s1000": "lookahead_paper",
    }
    assert {v for k, v in built.items() if "adam" in k} == {"adam"}
