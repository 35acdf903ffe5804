"""The example plugin's study through Ray Tune (one small study shared by every assertion): a module
plugin (examples/my_optimizer: AdaBelief) and a file plugin through the tune (Optuna), confirm and
default phases (the paper phase: tests/test_plugins.py's plan), the
user's claim judged in the report, a plugin's step() error recorded per trial, resume reloading the
plugins, and a changed or missing plugin refused on resume."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import optuna
import pandas as pd
import pytest

import search_spaces
from study import plugins
from study.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "my_optimizer"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A study of adabelief (module plugin), adamw and flaky (file plugin) on digits, from a YAML."""
    import ray

    ray.shutdown()
    tmp = tmp_path_factory.mktemp("plugin-study")
    plugin_file = tmp / "signsgd.py"
    shutil.copyfile(ROOT / "tests" / "plugins" / "signsgd.py", plugin_file)
    old_path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(EXAMPLE), old_path]))  # Ray's workers too
    import sys

    sys.path.insert(0, str(EXAMPLE))
    config = tmp / "study.yaml"
    config.write_text(
        f"plugins: [my_optimizer, {plugin_file}]\nclaims: {EXAMPLE / 'claims.csv'}\n"
        "optimizers: [adabelief, adamw, flaky]\ntasks: [digits]\ntrials: 2\niid_trials: 2\nepochs: 1\nseeds: 2\n"
        "phases: [tune, confirm, default]\nmax_failures: 0\ntask_config: {n_train: 300}\n")
    before = set(plugins._loaded)
    code = main(["launch", "--config", str(config), "--storage", str(tmp / "studies"), "--name", "mine"])
    yield {"code": code, "dir": tmp / "studies" / "mine", "storage": tmp / "studies", "plugin_file": plugin_file,
           "before": before}
    for source, record in list(plugins._loaded.items()):
        if source not in before:
            plugins.forget(record)
    sys.path.remove(str(EXAMPLE))
    sys.modules.pop("my_optimizer", None)
    if old_path is None:
        os.environ.pop("PYTHONPATH")
    else:
        os.environ["PYTHONPATH"] = old_path
    ray.shutdown()


def test_plugin_optimizer_runs_every_phase_with_optuna(study):
    assert study["code"] == 1  # the flaky optimizer's cells have no usable result (and say so)
    trials = pd.read_csv(study["dir"] / "trials.csv")
    mine = trials[trials["optimizer"] == "adabelief"]
    assert mine.groupby("phase").size().to_dict() == {"tune": 2, "confirm": 2, "default": 2}  # no paper point
    assert (mine["status"] == "ok").all() and mine["score"].between(0, 100).all()
    assert {"hp_beta1", "hp_beta2", "hp_eps"} <= set(mine.dropna(axis=1, how="all").columns)
    assert trials[trials["optimizer"] == "adamw"].groupby("phase").size().to_dict() == {"tune": 2, "confirm": 2,
                                                                                         "default": 2}
    journal = optuna.load_study(
        study_name="digits/adabelief", storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(study["dir"] / "optuna.journal"))))
    assert len(journal.trials) == 2 and {"lr", "beta1"} <= set(journal.trials[0].params)
    state = json.loads((study["dir"] / "study.json").read_text())
    assert [r["source"] for r in state["plugins"]] == ["my_optimizer", str(study["plugin_file"])]


def test_a_plugin_step_error_is_each_trials_error_naming_the_plugin(study):
    trials = pd.read_csv(study["dir"] / "trials.csv")
    flaky = trials[trials["optimizer"] == "flaky"]
    assert set(flaky["phase"]) == {"tune", "default"}  # no ok tune trial: nothing to confirm
    assert len(flaky) == 4 and (flaky["status"] == "error").all()
    assert flaky["error"].str.contains(f"plugin optimizer 'flaky' \\(plugin {study['plugin_file']}\\) step\\(\\)").all()
    assert "| flaky |" in (study["dir"] / "report.md").read_text()


def test_the_report_judges_the_users_claim(study):
    claims = pd.read_csv(study["dir"] / "claims.csv")
    (row,) = claims[claims["paper"] == "user"].itertuples()
    assert row.claim_id == "mine-digits-adabelief-adamw"
    assert row.fair_verdict in ("holds", "does not hold", "inconclusive") and row.fair_n == 2
    report = (study["dir"] / "report.md").read_text()
    first_screen = report.split("\n## ")[0]
    assert "**your claims** (1 claim about this study)" in first_screen
    assert "my optimizer, AdaBelief, beats AdamW on digits" in report


def test_resume_reloads_the_plugins_and_refuses_a_changed_or_missing_one(study, capsys):
    for source, record in list(plugins._loaded.items()):  # a fresh driver knows no plugin
        if source not in study["before"]:
            plugins.forget(record)
    assert "adabelief" not in search_spaces.names()
    args = ["launch", "--resume", "--name", "mine", "--storage", str(study["storage"])]
    assert main(args) == 1  # nothing left to run; the flaky cells are reported again
    assert search_spaces.origin("adabelief") == "plugin my_optimizer"
    capsys.readouterr()
    plugin_file = study["plugin_file"]
    plugin_file.write_text(plugin_file.read_text() + "\n# edited\n")
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"plugin {plugin_file} of study 'mine' changed since the study started" in err
    plugin_file.unlink()
    assert main(args) == 2
    assert f"plugin {plugin_file} of study 'mine' is missing" in capsys.readouterr().err
