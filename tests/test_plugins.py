"""Plugins without Ray: loading (file, module, entry point), the make() contract, `list`, `plan`,
the resume manifest, and every bad input the issue names (one line, exit 2, nothing written)."""
from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest
import torch

import optim
import search_spaces
from study import plugins
from study.cli import main
from study.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]
SIGNSGD = ROOT / "tests" / "plugins" / "signsgd.py"
EXAMPLE = ROOT / "examples" / "my_optimizer"


@pytest.fixture(autouse=True)
def clean_plugins():
    """Each test starts and ends with the built-ins only (registries are process-wide)."""
    from runners import vision_data

    before = set(plugins._loaded)
    yield
    for source, record in list(plugins._loaded.items()):
        if source not in before:
            plugins.forget(record)
    plugins._entry_points_done = False
    vision_data._load.cache_clear()
    sys.modules.pop("my_optimizer", None)


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_file_plugin_registers_with_its_origin_and_lists(capsys):
    code, out, _ = run_cli(["list", "optimizers", "--plugin", str(SIGNSGD)], capsys)
    assert code == 0
    line = next(x for x in out.splitlines() if x.strip().startswith("signsgd"))
    assert f"from plugin {SIGNSGD}" in line and "lr log-uniform[1e-05, 0.01]" in line
    assert "momentum uniform[0.5, 0.99]" in line and "batch_size {64, 128, 256, 512, 1024}" in line
    assert "  adamw: " in out  # built-ins listed as before, without an origin
    assert search_spaces.names()[:15] == list(search_spaces.points.BUILTIN_DEFAULTS)  # built-ins first, in order
    (record,) = [r for r in plugins.manifest() if r["source"] == str(SIGNSGD)]
    assert record["kind"] == "file" and record["optimizers"] == ["signsgd", "flaky"]
    assert len(record["sha256"]) == 64
    assert search_spaces.default_point("signsgd") == {"batch_size": 128, "lr": 1e-3, "weight_decay": 0.0,
                                                       "momentum": 0.9, "wd_exempt": False}
    # the plugin's paper point stands for every paper; the built-ins' tables are unchanged
    assert search_spaces.paper_point("signsgd", "thermolion")["batch_size"] == 256
    assert search_spaces.paper_point("adamw", "thermolion")["batch_size"] == 1024


def test_make_gets_param_groups_split_by_wd_exempt_and_only_its_own_hyperparameters():
    plugins.load(str(SIGNSGD))
    calls = sys.modules[next(m for m in sys.modules if m.startswith("optimizer_study_plugin_signsgd"))].CALLS
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    opt = optim.build("signsgd", model, lr=0.01, weight_decay=0.1, momentum=0.5, wd_exempt=True)
    groups, hp = calls[-1]
    assert hp == {"lr": 0.01, "weight_decay": 0.1, "momentum": 0.5}  # no batch_size, no wd_exempt
    # decay: the Linear weight; exempt (weight decay 0): its bias and the LayerNorm's two tensors
    assert sorted((n, wd) for _, n, wd in groups) == [(1, 0.1), (3, 0.0)]
    model(torch.ones(2, 3)).sum().backward()
    before = model[0].weight.detach().clone()
    opt.step()
    expected = before * (1 - 0.01 * 0.1) - 0.01 * (0.5 * model[0].weight.grad).sign()
    torch.testing.assert_close(model[0].weight.detach(), expected)


def test_an_error_inside_a_plugin_step_names_the_plugin():
    plugins.load(str(SIGNSGD))
    model = torch.nn.Linear(200, 100)  # 20,000 weights: above flaky's limit
    opt = optim.build("flaky", model, lr=0.01, weight_decay=0.0, momentum=0.5)
    model(torch.ones(1, 200)).sum().backward()
    with pytest.raises(optim.PluginError, match=rf"plugin optimizer 'flaky' \(plugin {SIGNSGD}\) step\(\) "
                                                 r"raised FloatingPointError: flaky"):
        opt.step()


def test_module_plugin_calls_register_and_adds_an_optimizer_and_a_task(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    code, out, _ = run_cli(["list", "--plugin", "my_optimizer"], capsys)
    assert code == 0
    assert "adabelief (from plugin my_optimizer):" in out
    assert "blobs (vision runner): from plugin my_optimizer" in out
    assert "xor (xor runner): from plugin my_optimizer" in out
    from runners import vision_data

    data = vision_data.load("blobs")  # 16x16 floats in [0, 1] -> uint8 32x32, as every dataset
    assert data.train_x.dtype == torch.uint8 and tuple(data.train_x.shape[1:]) == (1, 32, 32)
    assert data.classes == 4 and data.channels == 1


def test_plugin_runner_runs_a_task_of_a_new_kind_under_the_runner_contract(monkeypatch):
    from study.launch import cell_configs
    from study.spec import build_spec
    from study.trainable import _runner_module

    monkeypatch.syspath_prepend(str(EXAMPLE))
    spec = build_spec(overrides={"plugins": ["my_optimizer"], "tasks": ["xor"], "optimizers": ["adabelief"],
                                 "name": "x", "task_config": {}})
    (base,) = cell_configs(spec, {"CPU": 1.0}).values()
    assert base["_runner"] == "xor" and base["_plugins"][0]["source"] == "my_optimizer"
    reports = []
    config = {**base, **search_spaces.default_point("adabelief"), "epochs": 2, "lr": 0.03}
    result = _runner_module(base["_runner"]).train(config, reports.append)
    assert [r["epoch"] for r in reports] == [1, 2]
    assert result["status"] == "ok" and result["chance"] == 50.0 and result["steps"] == 14
    assert 50 < result["score"] <= 100 and 0 <= result["test_score"] <= 100  # it learns beyond chance
    # a task_config key the plugin runner does not take is one clear SpecError, as for built-in runners
    with pytest.raises(SpecError, match="unknown key 'paper_steps'"):
        build_spec(overrides={"plugins": ["my_optimizer"], "tasks": ["xor"], "optimizers": ["adabelief"],
                              "name": "x", "task_config": {"paper_steps": 3}})


def test_entry_point_of_an_installed_distribution_loads(tmp_path, monkeypatch):
    """A throwaway distribution on sys.path (a dist-info with entry_points.txt): importlib.metadata
    finds it as it finds any installed one."""
    (tmp_path / "ep_plugin.py").write_text(SIGNSGD.read_text().replace('"signsgd"', '"ep_signsgd"')
                                           .replace('"flaky"', '"ep_flaky"'))
    dist = tmp_path / "ep_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{plugins.ENTRY_POINT_GROUP}]\nsignsgd = ep_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    assert [ep.value for ep in importlib.metadata.entry_points(group=plugins.ENTRY_POINT_GROUP)] == ["ep_plugin"]
    (record,) = plugins.load_entry_points()
    assert record["kind"] == "entry_point" and record["dist"] == "ep-plugin"
    assert search_spaces.origin("ep_signsgd") == "plugin ep_plugin (entry point of ep-plugin)"
    plugins.check_manifest(plugins.manifest(), "s")  # unchanged: accepted
    (tmp_path / "ep_plugin.py").write_text((tmp_path / "ep_plugin.py").read_text() + "\n# changed\n")
    with pytest.raises(SpecError, match="plugin ep_plugin of study 's' changed since the study started"):
        plugins.check_manifest(plugins.manifest(), "s")


def test_plan_counts_the_plugin_paper_point(capsys):
    code, out, _ = run_cli(["plan", "--plugin", str(SIGNSGD), "--optimizers", "signsgd,adamw", "--trials", "2",
                            "--seeds", "1", "--paper-seeds", "1"], capsys)
    assert code == 0, out
    assert "tune: 4 trials" in out and "confirm: 2 trials" in out and "default: 2 trials" in out
    assert "paper: 4 trials" in out  # both have a paper point on digits, under the paper and the fair protocol


def test_resume_refuses_a_missing_or_changed_plugin(tmp_path):
    plugin = tmp_path / "mine.py"
    plugin.write_text(SIGNSGD.read_text().replace('"signsgd"', '"mine"').replace('"flaky"', '"mine_flaky"'))
    record = plugins.load(str(plugin))
    plugins.check_manifest([record], "s")
    plugin.write_text(plugin.read_text().replace("1e-3", "2e-3"))
    with pytest.raises(SpecError, match=rf"plugin {plugin} of study 's' changed since the study started"):
        plugins.check_manifest([record], "s")
    plugin.unlink()
    with pytest.raises(SpecError, match=rf"plugin {plugin} of study 's' is missing"):
        plugins.check_manifest([record], "s")


def test_resume_judges_the_claims_as_launched_even_if_their_file_is_gone(tmp_path):
    import argparse
    import json
    import shutil

    from reports.user_claims import USER_FILE
    from study.cli import _resume_spec
    from study.spec import StudySpec, validate

    claims = tmp_path / "claims.csv"
    shutil.copyfile(EXAMPLE / "claims.csv", claims)
    claims.write_text(claims.read_text().replace("adabelief", "lion"))
    spec = validate(StudySpec(name="s", storage=str(tmp_path / "studies"), claims=str(claims)))
    spec.study_dir.mkdir(parents=True)
    (spec.study_dir / "study.json").write_text(json.dumps({"name": "s", "spec": spec.to_dict(), "phases": {}}))
    shutil.copyfile(claims, spec.study_dir / USER_FILE)  # what the launch keeps
    claims.unlink()
    args = argparse.Namespace(preset=None, config=None)
    resumed = _resume_spec(args, {"name": "s", "storage": str(tmp_path / "studies")})
    assert resumed.claims == str(spec.study_dir / USER_FILE)


PLUGIN_HEAD = "import torch\nfrom study.plugins import register_optimizer, register_runner, register_task\n"
GOOD = "lambda p, **hp: torch.optim.SGD(p, **hp)"
SPACE = '{"lr": {"low": 1e-4, "high": 1e-1}, "weight_decay": 0.0}'


@pytest.mark.parametrize("body, needle", [
    ("raise RuntimeError('boom in my plugin')", "failed to import: RuntimeError: boom in my plugin"),
    (f"register_optimizer('adamw', {GOOD}, {SPACE}, {{'lr': 0.01}})", "'adamw' collides with the built-in"),
    (f"register_optimizer('p1', {GOOD}, {SPACE}, {{'lr': 0.01}})\n"
     f"register_optimizer('p1', {GOOD}, {SPACE}, {{'lr': 0.01}})", "'p1' collides with the plugin"),
    ("register_task('digits', lambda: None)", "task 'digits' collides with the built-in task"),
    ("register_runner('vision', lambda config, report: {})", "runner 'vision' collides with the built-in runner"),
    ("register_task('vision', lambda: None)", "task 'vision' collides with the built-in runner"),
    (f"register_optimizer('p2', lambda p, **hp: 'not an optimizer', {SPACE}, {{'lr': 0.01}})",
     "make returned str, not a torch.optim.Optimizer"),
    (f"register_optimizer('p3', lambda p, **hp: torch.optim.SGD(p, momentum=hp['nope'], lr=1), {SPACE}, "
     "{'lr': 0.01})", "'p3' (plugin"),
    (f"register_optimizer('p4', {GOOD}, {{'lr': [1e-4, 1e-1], 'weight_decay': 0.0}}, {{'lr': 0.01}})",
     "bare list"),
    (f"register_optimizer('p5', {GOOD}, {{'weight_decay': 0.0}}, {{'lr': 0.01}})", "space lacks lr"),
    (f"register_optimizer('p6', {GOOD}, {SPACE}, {{'lr': 0.5}})", "default lr=0.5 is outside its space"),
    (f"register_optimizer('p7', {GOOD}, {SPACE}, {{'lr': 0.01, 'rho': 1}})", "default names rho, not in its space"),
    ("register_task('t1', lambda: (torch.zeros(8, 8, 8), torch.zeros(8, dtype=torch.long), "
     "torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)))", "x_train must be images N x C x H x W"),
    ("register_task('t2', lambda: (torch.zeros(8, 1, 8, 8), torch.tensor([0, 1] * 3 + [-1, 1]), "
     "torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)))", "labels must be 0..K-1"),
])
def test_bad_plugin_is_one_line_exit_2_and_writes_nothing(body, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plugin = tmp_path / "bad_plugin.py"
    plugin.write_text(PLUGIN_HEAD + body + "\n")
    names = [w.split("'")[1] for w in body.split("register_")[1:]]
    task = next((n for n in names if n.startswith("t")), "digits")
    opt = next((n for n in names if n.startswith("p")), "adamw")
    storage = tmp_path / "studies"
    code, _, err = run_cli(["launch", "--plugin", str(plugin), "--optimizers", opt, "--tasks", task,
                            "--storage", str(storage)], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err and "Traceback" not in err
    assert not storage.exists()
    if str(plugin) not in plugins._loaded:  # failed while importing: it left nothing registered
        assert set(search_spaces.names()) == set(search_spaces.points.BUILTIN_DEFAULTS)


def test_missing_plugin_file_and_module(tmp_path, capsys):
    for source, needle in ((str(tmp_path / "nope.py"), "plugin file not found"),
                           ("no_such_plugin_module", "plugin module 'no_such_plugin_module' not found")):
        code, _, err = run_cli(["launch", "--plugin", source, "--storage", str(tmp_path / "s")], capsys)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("csv, needle", [
    ("claim_id,kind,task,optimizer,baseline,metric,margin,members,statement,colour\n"
     "a,beats,digits,lion,adamw,,,,x,red\n", "unknown column(s) colour"),
    ("claim_id,kind,task,optimizer,baseline,metric,margin,members,statement\na,beats,digits,lionx,adamw,,,,x\n",
     "unknown optimizer 'lionx'"),
    ("claim_id,kind,task,optimizer,baseline,metric,margin,members,statement\na,beats,digitz,lion,adamw,,,,x\n",
     "unknown task 'digitz'"),
    ("claim_id,kind,task,optimizer,baseline,metric,margin,members,statement\na,beats,digits,lion,adamw,f1,,,x\n",
     "unknown metric 'f1'"),
    ("claim_id,kind,task,optimizer,baseline,metric,margin,members,statement\na,wins,digits,lion,adamw,,,,x\n",
     "unknown kind 'wins'"),
])
def test_bad_claims_file_is_one_line_exit_2(csv, needle, tmp_path, capsys):
    claims = tmp_path / "claims.csv"
    claims.write_text(csv)
    code, _, err = run_cli(["launch", "--claims", str(claims), "--storage", str(tmp_path / "s")], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "s").exists()
