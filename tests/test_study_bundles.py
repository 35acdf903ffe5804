"""Bundles (issue 23): several configurations per Ray trial, with the records of one trial each.

One sleeping study (tests/sleep_runner.py) runs bundled and once more with `--bundle 1`, in-process
on one local Ray: per-configuration records, errors, timeouts and retries inside a bundle, and
bundled == unbundled. A second study is killed (kill -9) mid-bundle and resumed.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest

from study import launch as launch_module
from study.bundles import HANDBACK_KEY, auto_size, handed_back, pack, trial_states, tune_batch, unpack
from study.cli import main

ROOT = Path(__file__).resolve().parents[1]
BEHAVIOUR = {"adamw": {"oom_seeds": [1001]}, "lion": {"hang_seeds": [1001]}}  # the middle of a 3-bundle
COMPARED = ["trial_id", "phase", "optimizer", "seed", "status", "score", "test_score", "epochs_done", "error"]


def _sleeping(stamps: Path, sleep_s: float = 0.05, report_every_s: float | None = None):
    """The sleeping runner in every cell; `report_every_s` replaces a bundle's REPORT_EVERY_S."""
    original = launch_module.cell_configs
    every = {} if report_every_s is None else {"_report_every_s": report_every_s}

    def cells(spec, resources):
        return {key: {**base, "_runner": "tests.sleep_runner", "sleep_s": sleep_s, "stamps": str(stamps),
                      **BEHAVIOUR.get(base["optimizer"], {}), **every} for key, base in original(spec, resources).items()}

    return mock.patch.object(launch_module, "cell_configs", cells)


def _launch(storage: Path, name: str, bundle: int, fault_rate: float) -> Path:
    args = ["launch", "--optimizers", "adamw,lion", "--trials", "2", "--iid-trials", "1", "--epochs", "2",
            "--seeds", "3", "--phases", "tune,default", "--trial-timeout", "3", "--fault-rate", str(fault_rate),
            "--storage", str(storage), "--name", name, "--bundle", str(bundle)]
    with _sleeping(storage / f"{name}.stamps"), mock.patch("reports.write_report", return_value={}):
        assert main(args) == 0  # every cell phase has scored trials (2 of 3 default seeds)
    return storage / name


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    import ray

    storage = tmp_path_factory.mktemp("bundles")
    try:
        # faults (retries) only where they are under test: each costs a new worker process
        yield {"bundled": _launch(storage, "bundled", 3, 0.5), "unbundled": _launch(storage, "unbundled", 1, 0.0)}
    finally:
        ray.shutdown()


def _rows(study_dir: Path, phase: str | None = None) -> pd.DataFrame:
    trials = pd.read_csv(study_dir / "trials.csv")
    if phase:
        trials = trials[trials["phase"] == phase]
    return trials.sort_values("trial_id").reset_index(drop=True)


def _ray_results(study_dir: Path, tuner: str) -> dict[str, list[dict]]:
    """Each Ray trial's Tune results (its result.json lines, retries included), by trial directory."""
    return {p.parent.name: [json.loads(line) for line in p.read_text().splitlines()]
            for p in (study_dir / "ray" / tuner).glob("*/result.json")}


def _ray_reports(study_dir: Path, tuner: str) -> pd.DataFrame:
    """Every configuration's report Ray received (a bundle sends several in one result)."""
    return pd.DataFrame([r for lines in _ray_results(study_dir, tuner).values() for line in lines for r in unpack(line)])


@pytest.mark.slow
def test_a_bundle_records_each_configuration_as_its_own_trial(studies):
    study_dir = studies["bundled"]
    trials = _rows(study_dir)
    assert trials["trial_id"].is_unique and len(trials) == 2 * 2 + 2 * 3
    default = trials[trials["phase"] == "default"].set_index("trial_id")
    # one configuration's config error or timeout ends only that configuration, in the bundle's middle
    assert default.loc["default-digits-adamw-fair-s1001", "status"] == "error"
    assert "out of memory" in default.loc["default-digits-adamw-fair-s1001", "error"]
    assert default.loc["default-digits-lion-fair-s1001", "status"] == "timeout"
    ok = default.drop(["default-digits-adamw-fair-s1001", "default-digits-lion-fair-s1001"])
    assert (ok["status"] == "ok").all() and ok["test_score"].notna().all()
    # 3 seeds of a cell in one Ray trial (named by its first configuration); tune: a cell's 2 in one
    assert sorted(p.name for p in (study_dir / "ray" / "fixed").iterdir() if p.is_dir()) == [
        "default-digits-adamw-fair-s1000", "default-digits-lion-fair-s1000"]
    assert len([p for p in (study_dir / "ray" / "tune").iterdir() if p.is_dir()]) == 2
    history = pd.read_csv(study_dir / "history.csv")
    epochs = history[history["key"] == "train_loss"].groupby("trial_id")["epoch"].apply(sorted)
    assert epochs["default-digits-adamw-fair-s1002"] == [1, 2] and epochs["tune-digits-lion-1"] == [1, 2]
    assert not {"config_index", "config_time_s"} & set(history["key"])
    # fault rate 0.5 crashed lion's first two seeds once each (infrastructure errors, retried): the
    # bundle restarted at the crashed configuration, so lion's first seed, finished when its second
    # one crashed, did not run again (each run that ends stamps its id)
    crashed = {p.name for p in (study_dir / "faults").iterdir()}
    assert {"default-digits-lion-fair-s1000", "default-digits-lion-fair-s1001"} <= crashed
    runs = _stamps(study_dir.parent / "bundled.stamps")
    assert runs.max() == 1 and set(runs.index) == set(trials.loc[trials["status"] == "ok", "trial_id"])
    reports = _ray_reports(study_dir, "fixed")
    assert reports.loc[reports["final"] == True, "config_id"].value_counts().max() == 1  # noqa: E712
    # a bundle's reports reach the driver together: a tune bundle that no fault crashed sends its 2
    # configurations' 2 epochs and final results in one Tune result
    tune = _ray_results(study_dir, "tune").values()
    calm = [lines for lines in tune if not {r["config_id"] for line in lines for r in unpack(line)} & crashed]
    assert calm and all(len(lines) == 1 and len(unpack(lines[0])) == 6 for lines in calm), calm


@pytest.mark.slow
def test_bundled_tpe_asks_a_batch_and_hears_each_configuration(studies):
    import optuna

    from study.searcher import optuna_storage

    storage = optuna_storage(str(studies["bundled"] / "optuna.journal"))
    for cell in ("digits/adamw", "digits/lion"):
        told = optuna.load_study(study_name=cell, storage=storage).trials
        assert len(told) == 2 and all(t.state.name == "COMPLETE" for t in told)
        assert len({t.params["lr"] for t in told}) == 2  # two asks of one batch

    state = json.loads((studies["bundled"] / "study.json").read_text())
    assert state["tune_batch"] == 2
    assert set(state["seconds_per_epoch"]) == {"digits/adamw", "digits/lion"}
    from reports.caveats import search_batch
    from reports.load import load_study

    assert "batches of up to 2" in search_batch(load_study(studies["bundled"]).spec)  # the report says so
    assert search_batch(load_study(studies["unbundled"]).spec) is None


@pytest.mark.slow
def test_bundled_results_equal_unbundled_ones(studies):
    bundled, unbundled = _rows(studies["bundled"], "default"), _rows(studies["unbundled"], "default")
    pd.testing.assert_frame_equal(bundled[COMPARED], unbundled[COMPARED])
    assert len(list((studies["unbundled"] / "ray" / "fixed").iterdir())) >= 6  # one Ray trial each
    history = {k: pd.read_csv(d / "history.csv").query("phase == 'default'").sort_values(["trial_id", "epoch", "key"])
               .reset_index(drop=True) for k, d in studies.items()}
    pd.testing.assert_frame_equal(history["bundled"], history["unbundled"])


@pytest.mark.slow
def test_status_of_a_phase_in_progress_shows_each_bundled_configurations_own_result(studies):
    """`study status` reads a phase in progress from Tune's state: a bundle's configurations that
    finished before its last report have their own status and score (its reports), not "ok"."""
    from study.spec import StudySpec
    from study.status import _ray_trials

    spec = StudySpec(**json.loads((studies["bundled"] / "study.json").read_text())["spec"])
    seen = pd.DataFrame(_ray_trials(spec, "fixed")).sort_values(["optimizer", "status", "score"])
    records = _rows(studies["bundled"], "default").sort_values(["optimizer", "status", "score"])
    assert seen["status"].tolist() == records["status"].tolist()  # the error and the timeout mid-bundle
    assert seen["optimizer"].tolist() == records["optimizer"].tolist()
    ok = records["status"] == "ok"
    assert seen.loc[seen["status"] == "ok", "score"].tolist() == pytest.approx(records.loc[ok, "score"].tolist())


def _driver(storage: Path, name: str, *extra: str) -> list[str]:
    """A launch in a subprocess with the sleeping runner: 6 seeds of one cell in one bundle, which
    reports after each configuration (report_every_s 0: each result reaches the driver at once)."""
    code = ("import sys; from unittest import mock; from pathlib import Path; "
            "sys.path.insert(0, 'tests'); from test_study_bundles import _sleeping; from study.cli import main; "
            f"p = _sleeping(Path({str(storage / (name + '.stamps'))!r}), 0.4, 0); p.start(); sys.exit(main(sys.argv[1:]))")
    return [sys.executable, "-c", code, "launch", "--optimizers", "adam", "--epochs", "1", "--seeds", "6",
            "--phases", "default", "--bundle", "6", "--max-concurrent", "1", "--storage", str(storage),
            "--name", name, *extra]


def _stamps(path: Path) -> pd.Series:
    if not path.exists():
        return pd.Series(dtype=int)
    return pd.read_csv(path, sep=" ", names=["start", "end", "pid", "cell", "trial"])["trial"].value_counts()


def _finals_stored(study_dir: Path) -> int:
    """Final results in the stored result.json files (Tune copies them from its staging directory
    beside its experiment state; a kill before that copy ends loses what the copy had not reached)."""
    try:
        reports = _ray_reports(study_dir, "fixed")
    except (ValueError, json.JSONDecodeError):  # none yet, or a line being written
        return 0
    return int((reports.get("final", pd.Series(dtype=bool)) == True).sum())  # noqa: E712


@pytest.mark.slow
def test_a_bundle_killed_midway_reruns_only_its_unfinished_configurations(tmp_path, studies):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    stamps = tmp_path / "killed.stamps"
    proc = subprocess.Popen(_driver(tmp_path, "killed"), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while _stamps(stamps).sum() < 3:  # 3 of the bundle's 6 configurations have run
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    third = pd.read_csv(stamps, sep=" ", header=None)[1].max()
    while not (any(p.stat().st_mtime > third for p in (tmp_path / "killed" / "ray" / "fixed").glob("experiment_state*"))
               and _finals_stored(tmp_path / "killed") >= 3):
        assert time.monotonic() < deadline  # Tune saved its state (and the results) after the third one's checkpoint
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _stamps(stamps)
    with _sleeping(stamps, 0.4, 0), mock.patch("reports.write_report", return_value={}):  # on the fixture's Ray
        assert main(_driver(tmp_path, "killed", "--resume")[3:]) == 0
    runs = _stamps(stamps)
    assert len(runs) == 6 and runs.sum() == 6, runs  # the 3 finished ones did not run again
    assert before.sum() >= 3
    trials = _rows(tmp_path / "killed")
    assert trials["trial_id"].is_unique and len(trials) == 6 and (trials["status"] == "ok").all()
    # the same numbers as one Ray trial per configuration (the fixture's unbundled study: its seeds 1000-1002)
    with _sleeping(tmp_path / "one.stamps", 0.0), mock.patch("reports.write_report", return_value={}):
        assert main(_driver(tmp_path, "one", "--bundle", "1")[3:]) == 0
    pd.testing.assert_frame_equal(trials[COMPARED], _rows(tmp_path / "one")[COMPARED])


@pytest.mark.slow
def test_an_elastic_first_wave_hands_back_what_it_did_not_start(tmp_path, studies, capsys):
    """Nothing measured yet: the cell's 6 random start-up draws go out as one elastic bundle, which
    stops after ~0.3 s (HANDBACK_S, shortened) and hands the rest back; they run in a later Ray
    trial under the same ids, each exactly once, and every view counts each configuration once."""
    import optuna

    from study.searcher import optuna_storage

    stamps = tmp_path / "elastic.stamps"
    args = ["launch", "--optimizers", "adamw", "--trials", "6", "--iid-trials", "6", "--epochs", "1",
            "--phases", "tune", "--max-concurrent", "1", "--storage", str(tmp_path), "--name", "elastic"]
    with _sleeping(stamps, 0.15), mock.patch("study.searcher.HANDBACK_S", 0.3), \
            mock.patch("reports.write_report", return_value={}):  # on the fixture's Ray
        assert main(args) == 0
    study_dir = tmp_path / "elastic"
    ids = [f"tune-digits-adamw-{i}" for i in range(6)]
    trials = _rows(study_dir)
    assert sorted(trials["trial_id"]) == ids and (trials["status"] == "ok").all()
    runs = _stamps(stamps)
    assert sorted(runs.index) == ids and runs.max() == 1  # none ran twice, none was lost

    results = {name: lines[-1] for name, lines in _ray_results(study_dir, "tune").items()}
    configs = {name: json.loads((study_dir / "ray" / "tune" / name / "params.json").read_text()) for name in results}
    elastic = [name for name, config in configs.items() if HANDBACK_KEY in config]
    assert len(elastic) == 1 and len(results) >= 2
    back = handed_back(results[elastic[0]])
    ran_there = {r["config_id"] for r in unpack(results[elastic[0]]) if r.get("final") is True}
    assert back and ran_there and back | ran_there == set(ids) and not back & ran_there
    # its view leaves the handed-back ones out: status and the progress count each configuration once
    states = trial_states(configs[elastic[0]], "TERMINATED", results[elastic[0]])
    assert {c["_trial_id"] for c, state, _ in states} == ran_there and {s for _, s, _ in states} == {"TERMINATED"}
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[tune] digits x adamw")]
    assert len(lines) == 6 and "6/6 done" in lines[-1], lines
    # TPE heard each configuration once, and the report's batch leaves out the random start-up draws
    told = optuna.load_study(study_name="digits/adamw", storage=optuna_storage(str(study_dir / "optuna.journal"))).trials
    assert len(told) == 6 and all(t.state.name == "COMPLETE" for t in told)
    assert json.loads((study_dir / "study.json").read_text())["tune_batch"] == 1


def test_pack_keeps_cells_apart_and_fills_the_slots():
    configs = [{"task": "digits", "optimizer": o, "epochs": e, "_trial_id": f"{o}{i}"}
               for o in ("adamw", "lion") for i, e in enumerate([1, 1, 1, 1, 3])]
    ids = [[c["_trial_id"] for c in b] for b in pack(configs, slots=1, size=2)]
    assert ids == [["adamw0", "adamw1"], ["adamw2", "adamw3"], ["adamw4"], ["lion0", "lion1"], ["lion2", "lion3"], ["lion4"]]
    # measured: 1 s per epoch; 14 s of work over 2 slots -> bundles of at most TARGET_S = 5 s
    bundles = pack(configs, slots=2, seconds_per_epoch={"digits/adamw": 1.0, "digits/lion": 1.0})
    assert [[c["_trial_id"] for c in b] for b in bundles][:2] == [["adamw0", "adamw1", "adamw2", "adamw3"], ["adamw4"]]
    # over 4 slots: 14/4 = 3.5 s per bundle, so that every slot gets work
    bundles = pack(configs, slots=4, seconds_per_epoch={"digits/adamw": 1.0, "digits/lion": 1.0})
    assert [len(b) for b in bundles] == [3, 1, 1, 3, 1, 1]
    # a cell never measured: one configuration per Ray trial
    assert [len(b) for b in pack(configs, slots=2, seconds_per_epoch={"digits/adamw": 1.0})] == [3, 1, 1] + [1] * 5
    assert auto_size(0.5, remaining=1000, slots=32) == 10  # 5 s / 0.5 s
    assert auto_size(0.5, remaining=64, slots=32) == 2  # no slot left without work
    assert auto_size(None, remaining=64, slots=32) == 1 and auto_size(30.0, remaining=64, slots=1) == 1
