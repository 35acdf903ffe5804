"""search_spaces: sampling through a real Optuna study, overrides, fixed points, inclusions."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml

import optim
import search_spaces as ss
from search_spaces import Categorical, Constant, Float, Int, LogOrZero

optuna.logging.set_verbosity(optuna.logging.WARNING)

ALL = [
    "adam", "adamw", "rmsprop", "sgd", "lion", "normgd", "sepnorm", "ortsepnorm", "thermolion",
    "swats", "lookahead", "lookahead_paper", "swa", "muon", "muadam_paper",
]
ROOT = Path(__file__).resolve().parents[1]


def _draw(optimizer, n, overrides=None, seed=0, sampler=None):
    """n configs from define_by_run through a real Optuna study (ask/tell), with their trials."""
    study = optuna.create_study(sampler=sampler or optuna.samplers.RandomSampler(seed=seed))
    fn = ss.define_by_run(optimizer, overrides)
    out = []
    for _ in range(n):
        trial = study.ask()
        config = fn(trial)
        study.tell(trial, float(np.log10(config["lr"])))
        out.append((config, trial.params))
    return out


def _architecture_table():
    """docs/ARCHITECTURE.md "Hyperparameter names" as {optimizer: set of names} (+ common)."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    section = text.split("## Hyperparameter names")[1].split("\n## ")[0]
    table = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in ("optimizer", "---"):
            continue
        body = re.sub(r"\{[^}]*\}", "", re.sub(r"\([^)]*\)", "", cells[1]))
        hp = {re.match(r"\w+", p.strip()).group(0) for p in body.split(",")
              if p.strip() and not p.strip().startswith("and")}
        for opt in cells[0].split(","):
            table[opt.strip()] = hp | {"lr", "weight_decay", "wd_exempt"}
    for wrapper, base in (("lookahead", "adam"), ("lookahead_paper", "adam"), ("swa", "sgd")):
        table[wrapper] |= table[base]
    return table


def test_names_and_accepted_match_architecture():
    assert ss.names() == ALL
    table = _architecture_table()
    assert set(table) == set(ALL)
    for opt in ALL:
        assert ss.ACCEPTED[opt] == table[opt], opt
        assert set(ss.space(opt)) == set(ss.ACCEPTED[opt]) | ss.RUNNER_KEYS, opt
        assert set(ss.describe(opt)) == set(ss.space(opt))


def test_accepted_names_per_base():
    # what optim.resolve accepts: SWA's own names and Adam's (no SGD momentum)
    assert ss.accepted("swa", "adam") == {"lr", "weight_decay", "wd_exempt", "base",
                                          "swa_start", "swa_lr", "beta1", "beta2", "eps"}
    with pytest.raises(ValueError, match="unknown optimizer 'adamx'"):
        ss.accepted("adamx")
    with pytest.raises(ValueError, match="lookahead: cannot wrap base 'swa'"):
        ss.accepted("lookahead", "swa")


def test_import_is_pure():
    code = ("import sys, search_spaces; "
            "print(sorted(m for m in ('optuna', 'ray', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.parametrize("opt", ALL)
def test_samples_have_the_declared_types_and_ranges(opt):
    dims = ss.space(opt)
    for config, params in _draw(opt, 60, seed=ALL.index(opt)):
        assert set(config) == set(dims)
        # every suggested name is in the returned dict, so Ray's {**captured, **ret} == ret
        assert set(params) <= set(config)
        for name, dim in dims.items():
            v = config[name]
            assert dim.contains(v), (opt, name, v)
            if isinstance(dim, (Float, LogOrZero)):
                assert type(v) is float
            elif isinstance(dim, Int):
                assert type(v) is int
            elif isinstance(dim, Constant):
                assert name not in params and v == dim.value
            if isinstance(dim, LogOrZero):
                assert v == 0.0 or dim.low <= v <= dim.high


def test_log_scale_and_zero_share_of_weight_decay():
    draws = [c for c, _ in _draw("lion", 400, seed=1)]
    lr = np.log10([c["lr"] for c in draws])
    assert abs(np.median(lr) - (-6 + math.log10(3e-3)) / 2) < 0.25  # log-uniform, not uniform
    wd = np.array([c["weight_decay"] for c in draws])
    assert 50 <= (wd == 0).sum() <= 110  # 20% of 400 zeros, +-3.5 sd
    assert np.all((wd == 0) | ((wd >= 1e-3) & (wd <= 10)))
    assert abs(np.median(np.log10(wd[wd > 0])) + 1.0) < 0.3  # log-uniform over [1e-3, 10]
    assert {c["batch_size"] for c in draws} == {64, 128, 256, 512, 1024}
    assert {c["wd_exempt"] for c in draws} == {False, True}


def test_log_or_zero_maps_low_draws_to_zero():
    dim = LogOrZero(1e-3, 10.0, zero_share=0.25)
    log_span = math.log(dim.high / dim.floor)
    assert math.log(dim.low / dim.floor) == pytest.approx(0.25 * log_span)
    study = optuna.create_study()
    study.enqueue_trial({"weight_decay": dim.floor * 1.01})
    study.enqueue_trial({"weight_decay": dim.low * 1.01})
    assert dim.sample(study.ask(), "weight_decay") == 0.0
    assert dim.sample(study.ask(), "weight_decay") == pytest.approx(dim.low * 1.01)


def test_tpe_sampler_runs_on_every_space():
    sampler = optuna.samplers.TPESampler(n_startup_trials=4, seed=0)
    for opt in ("thermolion", "sepnorm", "swa", "lookahead", "muon"):
        dims = ss.space(opt)
        for config, _ in _draw(opt, 10, sampler=sampler):
            assert all(dims[n].contains(v) for n, v in config.items())


def test_overrides_narrow_the_space():
    overrides = {
        "lr": {"low": 1e-4, "high": 1e-3},
        "weight_decay": {"low": 1e-2, "high": 1.0, "zero_share": 0},
        "batch_size": {"choices": [64, 128]},
        "beta1": 0.9,
        "groups": {"choices": ["layer", "block"]},
    }
    dims = ss.space("sepnorm", overrides)
    assert dims["lr"] == Float(1e-4, 1e-3, log=True)  # the default log scale is kept
    assert ss.describe("sepnorm", overrides)["weight_decay"] == "log-uniform[0.01, 1]"
    draws = _draw("sepnorm", 80, overrides)
    for config, params in draws:
        assert 1e-4 <= config["lr"] <= 1e-3
        assert 1e-2 <= config["weight_decay"] <= 1.0
        assert config["batch_size"] in (64, 128)
        assert config["beta1"] == 0.9 and "beta1" not in params
        assert config["groups"] in ("layer", "block")
    assert {c["groups"] for c, _ in draws} == {"layer", "block"}


def test_override_scale_zero_share_and_integer_ranges():
    assert ss.space("adam", {"beta1": {"low": 0.85, "high": 0.95}})["beta1"] == Float(0.85, 0.95)
    assert ss.space("adamw", {"weight_decay": {"low": 1e-3, "high": 0.1}})["weight_decay"] == (
        LogOrZero(1e-3, 0.1, 0.2))
    assert ss.space("adam", {"weight_decay": {"low": 0, "high": 1e-3, "log": False}})[
        "weight_decay"] == Float(0.0, 1e-3)
    assert ss.space("lookahead", {"k": {"low": 5, "high": 10}})["k"] == Int(5, 10)
    assert ss.space("adam", {"batch_size": 256.0})["batch_size"] == Constant(256)
    assert ss.space("adam", {"eps": {"low": 1e-10, "high": 1e-6}})["eps"].log


def test_overrides_read_from_yaml():
    # PyYAML reads 1e-4 (no dot) as a string: numeric names accept numeric strings.
    overrides = yaml.safe_load("lr: {low: 1e-4, high: 1e-2}\nbatch_size: {choices: [64, 128]}\n"
                               "beta2: 0.99\nwd_exempt: true\n")
    assert overrides["lr"]["low"] == "1e-4"
    dims = ss.space("adamw", overrides)
    assert dims["lr"] == Float(1e-4, 1e-2, log=True)
    assert dims["batch_size"] == Categorical((64, 128))
    assert (dims["beta2"], dims["wd_exempt"]) == (Constant(0.99), Constant(True))


def test_wrapper_base_override_swaps_the_inner_space():
    dims = ss.space("lookahead", {"base": "adamw"})
    assert dims["base"] == Constant("adamw")
    assert dims["weight_decay"] == ss.space("adamw")["weight_decay"]
    assert set(dims) == set(ss.accepted("lookahead", "adamw")) | ss.RUNNER_KEYS
    (config, _), = _draw("lookahead", 1, {"base": "adamw"})
    assert config["base"] == "adamw"
    assert "momentum" in ss.space("swa") and "beta1" in ss.space("swa", {"base": "adam"})


BAD = [
    ("adamx", {}, "unknown optimizer 'adamx'"),
    ("adam", {"beta3": 0.9}, "adam.beta3: unknown hyperparameter"),
    ("adam", {"lr": {"low": 1e-2, "high": 1e-3}}, "adam.lr: inverted range: low 0.01 > high 0.001"),
    ("adam", {"batch_size": {"choices": []}}, "adam.batch_size: empty choices"),
    ("adamw", {"weight_decay": {"low": 0, "high": 0.1}}, "weight_decay: log scale needs a"),
    ("adam", {"weight_decay": {"low": 0.0, "high": 1e-3, "log": True}}, "positive low bound"),
    ("adam", {"lr": [1e-4, 1e-2]}, "adam.lr: bare list [0.0001, 0.01] is ambiguous"),
    ("adam", {"beta1": 1.5}, "adam.beta1: 1.5 is outside [0, 1)"),
    ("adam", {"lr": {"low": -1e-3, "high": 1e-2}}, "adam.lr: -0.001 is outside (0, inf)"),
    ("sepnorm", {"groups": "row"}, "sepnorm.groups: 'row' is not one of"),
    ("ortsepnorm", {"groups": {"choices": ["element"]}}, "ortsepnorm.groups: 'element' is not"),
    ("sgd", {"momentum": 0.0}, "sgd.nesterov: nesterov=true needs momentum > 0"),
    ("adam", {"base": "sgd"}, "adam.base: only lookahead, lookahead_paper, swa"),
    ("lookahead", {"base": "swa"}, "lookahead.base: 'swa' is not one of"),
    ("adam", [("lr", 1e-3)], "overrides for adam must be a mapping"),
    ("adam", {"batch_size": {"choices": [64, 100.5]}}, "adam.batch_size: 100.5 is not an integer"),
    ("adam", {"lr": {"low": 1e-4}}, "adam.lr: a range needs both low and high"),
    ("adam", {"lr": {"low": 1e-4, "high": 1e-3, "step": 2}}, "adam.lr: unknown key(s) step"),
    ("adam", {"wd_exempt": "yes"}, "adam.wd_exempt: 'yes' is not true/false"),
    ("adam", {"wd_exempt": {"low": 0, "high": 1}}, "adam.wd_exempt: is not numeric"),
    ("adam", {"beta1": {"low": 0.8, "high": 0.9, "zero_share": 0.1}}, "weight_decay only"),
    ("adam", {"lr": {"low": 1e-4, "high": 1e-3, "log": "yes"}}, "log must be true/false"),
    ("adam", {"lr": float("nan")}, "adam.lr: nan is not a finite number"),
    ("adam", {"lr": "fast"}, "adam.lr: 'fast' is not a finite number"),
]


@pytest.mark.parametrize(("opt", "overrides", "message"), BAD, ids=[m for _, _, m in BAD])
def test_bad_overrides_raise_one_clear_line(opt, overrides, message):
    with pytest.raises(ValueError) as err:
        ss.validate_overrides(opt, overrides)
    assert message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError):
        ss.define_by_run(opt, overrides)


def _points():
    for opt in ALL:
        yield opt, "default", ss.default_point(opt)
        for paper in ("thermolion", "sepnorm"):
            for task in (None, "cifar10", "glue-cola"):
                point = ss.paper_point(opt, paper, task)
                if point is not None:
                    yield opt, f"{paper}/{task}", point


@pytest.mark.parametrize(("opt", "which", "point"), list(_points()))
def test_points_are_complete_accepted_and_inside_the_space(opt, which, point):
    accepted = ss.accepted(opt, point.get("base"))
    assert set(point) - ss.RUNNER_KEYS <= accepted
    dims = ss.space(opt)
    assert set(point) == set(dims), (opt, which)
    for name, v in point.items():
        assert dims[name].contains(v), (opt, which, name, v)


def test_default_points():
    for opt in ALL:
        point = ss.default_point(opt)
        assert point["batch_size"] == 128 and point["wd_exempt"] is False
    assert ss.default_point("lion") == {
        "lr": 1e-4, "weight_decay": 0.0, "wd_exempt": False, "beta1": 0.9, "beta2": 0.99,
        "batch_size": 128,
    }
    assert ss.default_point("adamw")["weight_decay"] == 0.01  # torch's default
    assert ss.default_point("sepnorm")["groups"] == "layer"
    th = ss.default_point("thermolion")
    assert (th["c"], th["boost"], th["temp_decay"], th["weight_decay"]) == (2.0, 0.5, 0.99, 0.01)
    with pytest.raises(ValueError, match="unknown optimizer 'adamx'"):
        ss.default_point("adamx")


def test_thermolion_paper_points():
    ran = {o for o in ALL if ss.paper_point(o, "thermolion") is not None}
    assert ran == {"adam", "adamw", "rmsprop", "lion", "thermolion", "swats", "lookahead",
                   "lookahead_paper", "swa", "muadam_paper"}
    for opt in ran:
        point = ss.paper_point(opt, "thermolion")
        assert point["batch_size"] == 1024
        assert point["lr"] == pytest.approx(1e-3 / 3 if opt == "lion" else 1e-2 if opt == "swa"
                                            else 1e-3)
        assert ss.paper_point(opt, "thermolion", "glue-sst2") is None
    swa = ss.paper_point("swa", "thermolion")
    assert (swa["swa_lr"], swa["swa_start"], swa["momentum"]) == (0.01, 0.5, 0.0)
    assert swa["base"] == "sgd"
    la = ss.paper_point("lookahead", "thermolion")
    assert (la["base"], la["k"], la["alpha"]) == ("adam", 5, 0.5)
    assert ss.paper_point("lookahead_paper", "thermolion") == la
    assert ss.paper_build("lookahead", "thermolion") == "lookahead_paper"  # the notebook's class
    assert ss.paper_build("lookahead", "sepnorm") == "lookahead"
    assert ss.paper_build("adam", "thermolion") == "adam"
    th = ss.paper_point("thermolion", "thermolion")
    assert (th["beta1"], th["beta2"], th["temp_decay"], th["weight_decay"]) == (0.9, 0.99, 0.99,
                                                                                 0.01)
    assert ss.paper_point("rmsprop", "thermolion")["beta2"] == 0.99  # torch's alpha


def test_sepnorm_paper_points():
    assert ss.paper_point("adamw", "sepnorm", "cifar10") == {
        "lr": 7.5e-4, "weight_decay": 0.1, "wd_exempt": False, "beta1": 0.9, "beta2": 0.999,
        "eps": 1e-8, "batch_size": 256,
    }
    sep = ss.paper_point("sepnorm", "sepnorm")
    assert (sep["lr"], sep["weight_decay"], sep["beta2"], sep["groups"]) == (7.5e-5, 1.0, 0.99,
                                                                             "layer")
    assert ss.paper_point("lion", "sepnorm")["lr"] == 7.5e-5
    for opt in ("ortsepnorm", "thermolion", "adam", "sgd"):
        assert ss.paper_point(opt, "sepnorm") is None
    with pytest.raises(ValueError, match="unknown paper 'lion'"):
        ss.paper_point("lion", "lion")


def test_sepnorm_glue_points_and_budget():
    ran = {o for o in ALL if ss.paper_point(o, "sepnorm", "glue-rte") is not None}
    assert ran == {"adamw", "lion", "sepnorm", "ortsepnorm"}
    sign = dict(lr=1e-5, weight_decay=0.3, beta1=0.9, beta2=0.99)  # runners/glue/paper.py's reading
    settings = {"adamw": dict(lr=1e-4, weight_decay=0.1, beta1=0.9, beta2=0.999, eps=1e-8), "lion": sign,
                "sepnorm": {**sign, "groups": "layer"}, "ortsepnorm": {**sign, "groups": "layer"}}
    for opt in ran:  # the paper's T5 setting, and batch 128
        point = ss.paper_point(opt, "sepnorm", "glue-rte")
        assert point == {**settings[opt], "batch_size": 128, "wd_exempt": False}
        optim.registry.resolve(opt, {k: v for k, v in point.items() if k != "batch_size"})  # optim.build takes it
    lion, adamw = (ss.paper_point(o, "sepnorm", "glue-rte") for o in ("lion", "adamw"))
    assert lion["lr"] == adamw["lr"] / 10 and lion["weight_decay"] == pytest.approx(3 * adamw["weight_decay"])
    budget = ss.paper_budget("sepnorm", "glue-rte")
    assert budget["steps"] == 50_000 and budget["schedule"] == "constant"
    assert budget["warmup_steps"] == 0 and budget["eval_every"] is None
    assert ss.paper_budget("sepnorm", "glue-rte", 6)["steps"] == 6  # task_config paper_steps: a smoke run
    assert ss.paper_budget("sepnorm", "cifar10-resnet20") == {}
    assert ss.paper_budget("thermolion", "digits") == {"epochs": 12, "eval_each_epoch": False}
    assert ss.paper_point("adamw", "thermolion", "glue-rte") is None
    with pytest.raises(ValueError, match="unknown paper 'lion'"):
        ss.paper_budget("lion")


def test_inclusion_relations():
    # Choi et al. 2019: at weight_decay = 0 Adam and AdamW are one optimizer; both reach it all.
    assert ss.inclusion_gaps("adamw", "adam", {"weight_decay": 0.0}) == []
    assert ss.inclusion_gaps("adam", "adamw", {"weight_decay": 0.0}) == []
    # SepNorm with one-element groups is Lion, with one global group NormGD: every range is
    # theirs, and only the partition keeps its search from reaching them (issue 13).
    assert ss.inclusion_gaps("sepnorm", "lion", {"groups": "element"}) == [
        "outer groups {tensor, layer, block} excludes 'element'"]
    assert ss.inclusion_gaps("sepnorm", "normgd", {"groups": "global"}) == [
        "outer groups {tensor, layer, block} excludes 'global'"]


def test_inclusion_check_can_fail():
    assert ss.inclusion_gaps("sepnorm", "lion") == [
        "sepnorm searches groups, which lion lacks; pin it"]
    assert "outer groups {tensor, layer, block} excludes 'element'" in ss.inclusion_gaps(
        "ortsepnorm", "lion", {"groups": "element"})
    gaps = ss.inclusion_gaps("lion", "adam")
    assert any(g.startswith("lr: lion") for g in gaps) and "lion has no eps" in gaps
    assert ss.inclusion_gaps("adamw", "adam") != []  # coupled L2 range differs unless wd = 0


def test_covers():
    log_lr = Float(1e-6, 3e-3, log=True)
    assert ss.covers(log_lr, Float(1e-5, 1e-3))
    assert not ss.covers(log_lr, Float(1e-6, 1e-2, log=True))
    assert ss.covers(LogOrZero(1e-4, 1.0), Constant(0.0))
    assert not ss.covers(Float(1e-4, 1.0, log=True), LogOrZero(1e-4, 1.0))
    assert ss.covers(Float(0.0, 1.0), LogOrZero(1e-4, 1.0))
    assert ss.covers(Float(0.0, 30.0), Int(2, 20)) and not ss.covers(Int(0, 30), Float(2, 20))
    assert ss.covers(Categorical((False, True)), Constant(False))
    assert not ss.covers(Categorical((0, 1)), Constant(False))  # bools are not numbers here
    assert not ss.covers(Categorical((0.9, 0.99)), Categorical((0.9, 0.999)))


def test_ray_optuna_search_hands_out_exactly_the_space_names():
    optuna_search = pytest.importorskip("ray.tune.search.optuna")
    overrides = {"weight_decay": {"low": 1e-3, "high": 1e-1, "zero_share": 0.5}}
    searcher = optuna_search.OptunaSearch(
        space=ss.define_by_run("adamw", overrides), metric="score", mode="max",
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    configs = [searcher.suggest(f"t{i}") for i in range(40)]
    dims = ss.space("adamw", overrides)
    assert all(set(c) == set(dims) for c in configs)
    assert all(dims[n].contains(v) for c in configs for n, v in c.items())
    zeros = sum(c["weight_decay"] == 0.0 for c in configs)
    assert 8 <= zeros <= 32  # half of 40, +-3.8 sd; the raw sub-`low` draws never reach the config
