"""Bad input: exit 2, one line naming the problem, no traceback or usage, nothing written or started."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from study.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "args, needle",
    [
        (["launch", "--optimizers", "adamw,nosuchopt"], "nosuchopt"),
        (["launch", "--tasks", "nosuchtask"], "nosuchtask"),
        (["launch", "--preset", "nosuchpreset"], "nosuchpreset"),
        (["launch", "--trials", "0"], "trials"),
        (["launch", "--trials", "-3"], "trials"),
        (["launch", "--epochs", "1.5"], "--epochs"),
        (["launch", "--config", "/nonexistent/study.yaml"], "/nonexistent/study.yaml"),
        (["launch", "--resume", "--name", "never-ran"], "never-ran"),
        (["launch", "--phases", "tune,nosuchphase"], "nosuchphase"),
        (["launch", "--phases", "confirm"], "tune"),
        (["launch", "--name", ".."], "name"),
        (["launch", "--seeds", "5-3"], "min (5) must be <= max (3)"),
        (["launch", "--seeds", "1-4"], "min must be >= 2"),
        (["launch", "--seeds", "2-50"], "max must be <= 30"),
        (["launch", "--seeds", "auto", "--phases", "tune,default,paper"], "confirm"),
        (["launch", "--seeds", "many"], "seeds"),
        (["launch", "--nosuchflag"], "--nosuchflag"),
        (["report", "/nonexistent/study-dir"], "/nonexistent/study-dir"),
        ([], "command"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(args, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if args[:1] == ["launch"]:
        args = args + ["--storage", str(tmp_path / "studies")]
    code, out, err = run_cli(args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "Traceback" not in err and "usage:" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "yaml_text, needle",
    [
        ("tasks: [digits\noptimizers: [adamw]\n", "not valid YAML"),
        ("nosuchkey: 3\n", "nosuchkey"),
        ("epochs: 2.5\n", "epochs"),
        ("search_space:\n  adamw:\n    lr: {low: 1.0e-2, high: 1.0e-4, log: true}\n", "lr"),
        ("search_space:\n  nosuchopt: {}\n", "nosuchopt"),
        ("task_config: {n_trian: 500}\n", "n_trian"),
        ("task_config: {max_length: 64}\n", "max_length"),  # a glue key in a vision-only study
        ("seeds: {min: 4, max: 3}\n", "min (4) must be <= max (3)"),
        ("seeds: {min: 2, most: 9}\n", "most"),
        ("tasks: [glue-cola]\ntask_config: {paper_steps: 0}\n", "paper_steps"),
        ("task_config: {paper_steps: 100}\n", "paper_steps"),  # a GLUE key in a vision-only study
    ],
)
def test_bad_config_file(yaml_text, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "study.yaml"
    config.write_text(yaml_text)
    code, out, err = run_cli(["launch", "--config", str(config), "--storage", str(tmp_path / "s")], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and needle in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml"]


def test_spec_layers_preset_file_and_flags(tmp_path):
    from study.spec import build_spec

    config = tmp_path / "s.yaml"
    config.write_text("preset: quick\ntrials: 7\nepochs: 2\noptimizers: [adamw, lion]\n")
    spec = build_spec(None, str(config), {"epochs": 5, "storage": "rel/dir"})
    assert spec.trials == 7 and spec.epochs == 5 and spec.optimizers == ["adamw", "lion"]
    assert os.path.isabs(spec.storage) and spec.storage.endswith("rel/dir")
    assert spec.iid_trials <= spec.trials


def test_seeds_auto_forms():
    from study.spec import build_spec

    assert (build_spec(None, None, {"seeds": "auto"}).seeds, build_spec(None, None, {"seeds": "auto"}).seeds_max) == (2, 10)
    spec = build_spec(None, None, {"seeds": {"min": 3, "max": 6}})
    assert (spec.seeds, spec.seeds_max) == (3, 6)
    spec = build_spec(None, None, {"seeds": "2-5"})
    assert (spec.seeds, spec.seeds_max) == (2, 5)
    assert build_spec(None, None, {"seeds": "4"}).seeds_max is None  # a fixed count stays fixed
    # the quick preset's auto seeds with phases that cannot decide claims: its minimum, fixed (no error)
    assert (build_spec(None, None, {"phases": "tune,default"}).seeds, build_spec(None, None, {"phases": "tune"}).seeds_max) == (2, None)
    again = build_spec(None, None, {**spec.to_dict(), "preset": "quick"})  # study.json's form, on --resume
    assert (again.seeds, again.seeds_max) == (2, 5)


def test_plan_gives_the_least_and_most_trials_of_seeds_auto(capsys):
    code, out, _ = run_cli(["plan", "--preset", "mnist-claims"], capsys)
    # mnist5k's two Table 2 claims: their 3 cells' confirm runs and paper-protocol runs may go from 2 to 5 seeds
    assert code == 0 and "60 trials if every claim is decided at 2 seeds, at most 78 if every claim goes to 5" in out


def test_list_names_every_optimizer(capsys):
    import search_spaces

    code, out, _ = run_cli(["list"], capsys)
    assert code == 0
    for name in search_spaces.names():
        assert f"  {name}:" in out


def test_module_entry_point_exit_code():
    proc = subprocess.run([sys.executable, "-m", "study", "launch", "--tasks", "mnist-nosuchmodel"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "mnist-nosuchmodel" in proc.stderr


def test_task_names_match_the_runners():
    from runners import models, vision, vision_data
    from runners.glue import loop
    from study import tasks

    assert set(tasks.VISION_MODELS) == set(models.MODELS)
    assert set(tasks.THERMOLION_DATASETS + tasks.OFFLINE_DATASETS) == set(vision_data.DATASETS)
    fixed_by_study = {"task", "dataset", "model", "optimizer", "epochs", "seed", "protocol"}
    assert set(tasks.RUNNER_KEYS["vision"]) == set(vision.RUNNER_KEYS) - fixed_by_study
    assert set(tasks.RUNNER_KEYS["glue"]) == set(loop.DEFAULTS) - (fixed_by_study - {"model"})


def test_task_config_reaches_only_the_runners_that_take_it():
    from study.tasks import parse_task, runner_config

    config = {"n_train": 500, "max_length": 64, "model": "tiny"}
    vision = runner_config(parse_task("cifar10-resnet20"), config)
    assert vision == {"dataset": "cifar10", "model": "resnet20", "n_train": 500}
    assert runner_config(parse_task("glue-cola"), config) == {"model": "tiny", "n_train": 500, "max_length": 64}
    assert runner_config(parse_task("glue-cola"), {})["model"] == "t5-base"


def test_data_prepare_offline_is_one_line(tmp_path, capsys):
    code, out, err = run_cli(["data", "prepare", "--datasets", "mnist", "--data-dir", str(tmp_path)], capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "mnist" in err and "Traceback" not in err
    assert "without network" in err and str(tmp_path / "cache") in err  # the full cause, then what to do


def test_data_prepare_unknown_dataset(tmp_path, capsys):
    code, out, err = run_cli(["data", "prepare", "--datasets", "mnist,nosuchdata", "--data-dir", str(tmp_path)],
                             capsys)
    assert code == 2 and "nosuchdata" in err
    assert list(tmp_path.iterdir()) == []


def test_every_preset_is_a_valid_spec():
    import search_spaces
    from study.presets import PRESETS
    from study.spec import build_spec

    for name in PRESETS:
        spec = build_spec(name)
        assert spec.preset == name and spec.trials >= spec.iid_trials >= 1
    assert set(build_spec("quick").optimizers) == set(search_spaces.names())  # "every optimizer"


def test_batch_sizes_are_capped_at_the_training_split():
    from study.batch_cap import capped_overrides, capped_point

    assert capped_overrides("adamw", None, 300) == {"batch_size": {"choices": [64, 128, 256]}}
    assert capped_overrides("adamw", None, 100) == {"batch_size": 64}
    assert capped_overrides("adamw", None, 40) == {"batch_size": 40}  # below every choice: the split itself
    assert capped_overrides("lion", {"batch_size": {"low": 16, "high": 512}}, 90)["batch_size"] == \
        {"low": 16, "high": 90, "log": False}
    assert capped_overrides("adamw", {"lr": 1e-3}, None) == {"lr": 1e-3}
    assert capped_point({"lr": 1e-4, "batch_size": 128}, 90) == {"lr": 1e-4, "batch_size": 90}
    assert capped_point({"batch_size": 64}, 90) == {"batch_size": 64}
