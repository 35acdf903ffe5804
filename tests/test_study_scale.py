"""Scaling a study out: concurrency from the cluster's slots, deterministic trial ids, the study
lock, per-trial timeouts, config errors reaching TPE at chance, --retry-errored, plan and status,
trackers (issue 12). The end-to-end tests use the sleeping test runner (tests/sleep_runner.py)."""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest

from study import launch as launch_module
from study.cli import main
from study.errors import SpecError
from study.lock import LOCK_FILE, STALE_AFTER, StudyLock, read_lock


# ----------------------------------------------------------------------------- lock
def test_lock_refuses_a_second_driver_and_releases(tmp_path):
    with StudyLock(tmp_path):
        holder = read_lock(tmp_path)
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(SpecError, match=f"in use by pid {os.getpid()} on {socket.gethostname()}"):
            StudyLock(tmp_path).acquire()
    assert not (tmp_path / LOCK_FILE).exists()


def _write_lock(path: Path, **fields) -> None:
    base = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(), "heartbeat": time.time()}
    (path / LOCK_FILE).write_text(json.dumps({**base, **fields}))


def test_stale_locks_are_taken_over_and_live_ones_are_not(tmp_path, capsys):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _write_lock(tmp_path, pid=int(dead.stdout))  # a driver on this host that has exited
    with StudyLock(tmp_path):
        assert read_lock(tmp_path)["pid"] == os.getpid()
    assert "no longer running" in capsys.readouterr().err

    _write_lock(tmp_path, host="other-node", pid=1, heartbeat=time.time() - 2 * STALE_AFTER)
    with StudyLock(tmp_path):
        pass
    assert "heartbeat" in capsys.readouterr().err

    _write_lock(tmp_path, host="other-node", pid=1)  # alive elsewhere, as far as we can tell
    with pytest.raises(SpecError, match="other-node"):
        StudyLock(tmp_path).acquire()


def test_a_suspended_driver_keeps_its_lock_and_a_taken_over_one_leaves_it(tmp_path, capsys):
    # on this host a live pid holds the study however old its heartbeat (e.g. a driver under Ctrl-Z)
    _write_lock(tmp_path, heartbeat=time.time() - 2 * STALE_AFTER)
    with pytest.raises(SpecError, match="in use"):
        StudyLock(tmp_path).acquire()
    (tmp_path / LOCK_FILE).unlink()
    # an empty lock (its creator between create and write) is held, not stale
    (tmp_path / LOCK_FILE).write_text("")
    with pytest.raises(SpecError, match="in use"):
        StudyLock(tmp_path).acquire()
    os.utime(tmp_path / LOCK_FILE, (time.time() - 2 * STALE_AFTER,) * 2)
    with StudyLock(tmp_path):  # ... until nobody has written it for STALE_AFTER
        pass
    assert "unreadable" in capsys.readouterr().err
    lock = StudyLock(tmp_path)
    lock.acquire()
    _write_lock(tmp_path, host="other-node", pid=1)  # another driver took it over
    lock.release()
    assert read_lock(tmp_path)["host"] == "other-node"  # ours to remove only while it is ours


# ----------------------------------------------------------------------------- spec and resources
@pytest.mark.parametrize("args, needle", [
    (["--gpus-per-trial", "1.5"], "gpus_per_trial"),
    (["--log-to", "nosuchtracker"], "nosuchtracker"),
    (["--trial-timeout", "0"], "trial_timeout"),
    (["--retry-errored"], "--resume"),
])
def test_new_launch_flags_refuse_bad_values(args, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["launch", "--storage", str(tmp_path / "s"), *args])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err, err
    assert list(tmp_path.iterdir()) == []


def test_missing_tracker_package_is_one_line(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    code = main(["launch", "--log-to", "mlflow", "--storage", str(tmp_path / "s"), "--name", "x"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install mlflow" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_relative_data_paths_become_absolute(tmp_path, monkeypatch):
    from study.spec import build_spec

    monkeypatch.chdir(tmp_path)
    spec = build_spec(None, None, {"tasks": ["glue-sst2"], "task_config": {
        "data_dir": "data", "cache_dir": "~/c", "data_files": {"train": "t.csv", "validation": ["v1.csv"]}}})
    assert spec.task_config["data_dir"] == str(tmp_path / "data")
    assert spec.task_config["cache_dir"] == os.path.expanduser("~/c")
    assert spec.task_config["data_files"] == {"train": str(tmp_path / "t.csv"), "validation": [str(tmp_path / "v1.csv")]}


def test_slots_and_autoscaling_gpus(monkeypatch, capsys):
    import ray
    from test_study_cluster import _nodes

    from study.cluster import plan_resources, trial_slots
    from study.spec import StudySpec, validate

    monkeypatch.setattr(ray, "nodes", lambda: _nodes((16.0, 0), *[(32.0, 8.0)] * 4))
    resources = plan_resources(validate(StudySpec()))
    assert resources == {"CPU": 4.0, "GPU": 1.0} and trial_slots(resources) == 32
    assert trial_slots({"CPU": 1.0, "GPU": 0.25}) == 4 * 32 + 0  # GPU trials never land on the CPU head
    assert trial_slots({"CPU": 1.0, "GPU": 0.0}) == 16 + 4 * 32
    # autoscaling: no GPU node up yet, an explicit --gpus-per-trial is kept (and said so)
    monkeypatch.setattr(ray, "nodes", lambda: _nodes((4.0, 0)))
    assert plan_resources(validate(StudySpec(gpus_per_trial=1))) == {"CPU": 1.0, "GPU": 1.0}
    assert "wait" in capsys.readouterr().err
    assert launch_module.concurrency(validate(StudySpec(gpus_per_trial=1)), {"CPU": 1.0, "GPU": 1.0}) \
        == launch_module.AUTOSCALING_PENDING
    assert launch_module.concurrency(validate(StudySpec(max_concurrent=3)), {"CPU": 1.0, "GPU": 0.0}) == 3
    # a GPU preset on a GPU-less cluster: one loud warning
    plan_resources(validate(StudySpec(preset="thermolion-paper")))
    err = capsys.readouterr().err
    assert err.count("WARNING") == 1 and "thermolion-paper" in err


# ----------------------------------------------------------------------------- trainable pieces
def test_config_errors_are_told_apart_from_infrastructure_errors():
    from study.trainable import InjectedFault, is_config_error

    assert is_config_error(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_config_error(RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 5x6)"))
    assert is_config_error(ValueError("Invalid learning rate: -1"))
    assert is_config_error(RuntimeError("loss is nan at step 0"))
    assert not is_config_error(OSError("No space left on device"))
    assert not is_config_error(ConnectionError("lost the GCS"))
    assert not is_config_error(RuntimeError("scheduled maintenance of the node"))
    assert not is_config_error(InjectedFault("injected fault in trial x"))


def test_deadline_interrupts_a_busy_thread_but_not_a_shielded_report():
    from study.deadline import Deadline, TrialTimeout

    start = time.monotonic()
    with pytest.raises(TrialTimeout):
        with Deadline(0.3):
            while time.monotonic() - start < 10:
                time.sleep(0.01)
    assert time.monotonic() - start < 3
    with Deadline(5):  # finishing in time raises nothing, then or later
        pass
    time.sleep(0.1)
    # a report on its way to the driver is never cut: the expiry waits for the shield to end
    sent = []
    with pytest.raises(TrialTimeout):
        with Deadline(0.1) as deadline:
            with deadline.shield():
                time.sleep(0.4)
                sent.append("report")
            sent.append("next epoch")
    assert sent == ["report"]


def test_searcher_ids_are_deterministic_and_ray_id_repeats_are_refused():
    from study.searcher import CellSearcher

    cells = {f"digits/{o}": {"task": "digits", "optimizer": o, "phase": "tune"} for o in ("adamw", "lion")}
    # 4 slots for 4 start-up draws: one configuration per Ray trial
    searcher = CellSearcher(cells, trials=2, iid_trials=2, seed=0, overrides={}, slots=4)
    ids = [searcher.suggest(f"ray{i}")["_trial_id"] for i in range(4)]
    assert ids == ["tune-digits-adamw-0", "tune-digits-lion-0", "tune-digits-adamw-1", "tune-digits-lion-1"]
    fresh = CellSearcher(cells, trials=2, iid_trials=2, seed=0, overrides={}, slots=4)
    assert fresh.suggest("ray0")["_trial_id"] == ids[0]
    assert fresh.suggest("ray0") is None  # a colliding Ray id: Tune asks again with another
    assert fresh.suggest("ray9")["_trial_id"] == ids[1]


def test_an_elastic_bundle_hands_back_configurations_asked_again_under_their_ids():
    import json

    import optuna

    from study.bundles import HANDBACK_KEY, HANDED_BACK, bundle_configs
    from study.searcher import CellSearcher

    cells = {f"digits/{o}": {"task": "digits", "optimizer": o, "phase": "tune"} for o in ("adamw", "lion")}
    searcher = CellSearcher(cells, trials=4, iid_trials=4, seed=0, overrides={}, slots=2)
    first = searcher.suggest("ray0")  # nothing measured: adamw's 4 start-up draws over its 1 slot, elastic
    assert first[HANDBACK_KEY] > 0 and [c["trial_index"] for c in first["bundle"]] == [0, 1, 2, 3]
    back = [c["_trial_id"] for c in first["bundle"][1:]]
    final = {"final": True, "config_index": 0, "config_id": "tune-digits-adamw-0", "score": 50.0,
             "config_time_s": 0.5, HANDED_BACK: json.dumps(back)}
    searcher.on_trial_result("ray0", final)
    searcher.on_trial_complete("ray0", final)
    # lion's turn: sized by the rule from adamw's 0.5 s, elastic while lion itself is not measured
    second = searcher.suggest("ray1")
    assert HANDBACK_KEY in second and [c["optimizer"] for c in second["bundle"]] == ["lion"] * 4
    # adamw's handed-back draws come next, the same configurations under the same ids; nothing more is asked
    again = [bundle_configs(searcher.suggest(f"ray{i}")) for i in (2, 3)]
    assert [len(b) for b in again] == [2, 1] and again[0] + again[1] == first["bundle"][1:]
    assert searcher.suggest("ray4") is None  # all asked, but lion's elastic bundle may still hand some back
    ran = [{"final": True, "config_index": i, "config_id": c["_trial_id"], "score": 50.0, "config_time_s": 0.5}
           for i, c in enumerate(second["bundle"])]
    searcher.on_trial_complete("ray1", {**ran[-1], "reports": json.dumps(ran)})  # it ran them all
    assert searcher.suggest("ray5") == "FINISHED"
    trials = optuna.load_study(study_name="digits/adamw", storage=searcher.memory).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "RUNNING", "RUNNING", "RUNNING"]  # none failed, none extra


def test_a_resumed_searcher_hears_the_elastic_bundles_tune_saw_end():
    """Tune saves its trials, then the searcher: a driver killed between the two resumes with an
    elastic bundle ended (TERMINATED, its hand-back in its last result) that the searcher still
    counts as out. Reconciling at the first step re-queues its hand-backs; without it the searcher
    would wait for it forever."""
    import json
    from types import SimpleNamespace

    from study.bundles import HANDED_BACK
    from study.searcher import CellSearcher, ReconcileOnResume

    cells = {"digits/adamw": {"task": "digits", "optimizer": "adamw", "phase": "tune"}}
    searcher = CellSearcher(cells, trials=3, iid_trials=3, seed=0, overrides={}, slots=1)
    bundle = searcher.suggest("ray0")["bundle"]
    assert searcher.suggest("ray1") is None  # all asked, one bundle out: wait
    last = {"final": True, "config_index": 0, "config_id": bundle[0]["_trial_id"], "score": 50.0,
            "config_time_s": 6.0, HANDED_BACK: json.dumps([c["_trial_id"] for c in bundle[1:]])}
    ended = SimpleNamespace(trial_id="ray0", status="TERMINATED", last_result=last, TERMINATED="TERMINATED", ERROR="ERROR")
    callback = ReconcileOnResume(searcher)
    callback.on_step_begin(0, [ended])
    assert searcher.suggest("ray2") == bundle[1] and searcher.suggest("ray3") == bundle[2]
    assert searcher.suggest("ray4") == "FINISHED" and "ray0" not in searcher.elastic


def test_plan_projects_the_ray_trials_the_searcher_hands_out():
    """A driver loop as Tune's (suggest until None or FINISHED, slots at once, the first to start
    ends first) with fixed seconds per configuration: every configuration runs once, elastic
    bundles' hand-backs included (none lost to an early FINISHED), in the Ray trials `plan`
    projects."""
    import json
    import math
    from types import SimpleNamespace

    from study.bundles import HANDBACK_KEY, HANDBACK_S, HANDED_BACK, bundle_configs
    from study.plan import tune_bundle_sizes
    from study.searcher import CellSearcher

    seconds = {"digits/adamw": 2.0, "digits/lion": 3.0}  # an elastic bundle of 3 runs 3 (adamw), 2 (lion)
    cells = {key: {"task": "digits", "optimizer": key.split("/")[1], "phase": "tune"} for key in seconds}
    slots, trials = 4, 6  # all asked in the first wave
    searcher = CellSearcher(cells, trials=trials, iid_trials=6, seed=0, overrides={}, slots=slots)
    running, ran, asked, finished = [], [], 0, False
    while True:
        while len(running) < slots and not finished:
            config = searcher.suggest(f"ray{asked}")
            asked += 1
            if config is None or config == "FINISHED":
                finished = config == "FINISHED"
                break
            running.append((f"ray{asked - 1}", config))
        if not running:
            break
        trial_id, config = running.pop(0)
        configs = bundle_configs(config)
        key = f"digits/{configs[0]['optimizer']}"
        done = min(len(configs), math.ceil(HANDBACK_S / seconds[key])) if HANDBACK_KEY in config else len(configs)
        finals = [{"final": True, "config_index": i, "config_id": c["_trial_id"], "score": 50.0,
                   "config_time_s": seconds[key]} for i, c in enumerate(configs[:done])]
        if done < len(configs):
            finals[-1][HANDED_BACK] = json.dumps([c["_trial_id"] for c in configs[done:]])
        result = {**finals[-1], "reports": json.dumps(finals)}
        searcher.on_trial_result(trial_id, result)
        searcher.on_trial_complete(trial_id, result)
        ran.append(len(finals))
    assert finished and sum(ran) == 2 * trials == len(searcher.told)  # each configuration once
    assert ran == [3, 2, 3, 2, 1, 1]  # the elastic first wave: lion's bundles handed one back each
    spec = SimpleNamespace(phases=["tune"], tasks=["digits"], optimizers=["adamw", "lion"], trials=trials,
                           iid_trials=6, bundle=None, log_to=None)
    assert sorted(tune_bundle_sizes(spec, seconds, slots)) == sorted(ran)  # the same Ray trials, in another order


# ----------------------------------------------------------------------------- end to end (sleeping trials)
def _sleeping_cells(behaviour: dict[str, dict]):
    """Every trial runs tests/sleep_runner.py, with per-optimizer misbehaviours."""
    original = launch_module.cell_configs

    def cells(spec, resources):
        return {key: {**base, "_runner": "tests.sleep_runner", "sleep_s": 0.05, **behaviour.get(base["optimizer"], {})}
                for key, base in original(spec, resources).items()}

    return mock.patch.object(launch_module, "cell_configs", cells)


def _no_report():
    return mock.patch("reports.write_report", return_value={})  # the report is not under test here


@pytest.mark.slow
def test_errors_timeouts_tpe_trackers_status_and_retry_errored(tmp_path, capsys):
    import optuna
    import ray

    from study.searcher import optuna_storage
    from study.status import status_table

    disk_ok = tmp_path / "disk-ok"
    behaviour = {"adamw": {"oom_above_lr": 0.0}, "lion": {"hang": True}, "sgd": {"crash_unless": str(disk_ok)}}
    config = tmp_path / "scale.yaml"
    config.write_text(f"optimizers: [adam, adamw, lion, sgd]\ntrials: 2\niid_trials: 2\nepochs: 1\nseeds: 1\n"
                      f"phases: [tune, default]\nmax_failures: 0\ntrial_timeout: 5\nlog_to: [mlflow]\n"
                      f"storage: {tmp_path}\nname: scale\n")
    try:
        with _sleeping_cells(behaviour), _no_report():
            code = main(["launch", "--config", str(config)])
        out, err = capsys.readouterr()
        # adamw, lion and sgd have no scored trial in a phase: exit 1, one summary line per cause
        assert code == 1, out + err
        assert "no usable result for 6 cell phase(s)" in err and err.count("out of memory") == 1, err
        study_dir = tmp_path / "scale"
        trials = pd.read_csv(study_dir / "trials.csv")
        tune = trials[trials["phase"] == "tune"]
        expected_ids = {f"tune-digits-{o}-{i}" for o in ("adam", "adamw", "lion", "sgd") for i in range(2)}
        assert set(tune["trial_id"]) == expected_ids
        assert {p.name for p in (study_dir / "ray" / "tune").iterdir() if p.is_dir()} >= expected_ids
        by_opt = {o: rows for o, rows in trials.groupby("optimizer")}
        assert (by_opt["adam"]["status"] == "ok").all()
        oom = by_opt["adamw"]
        assert (oom["status"] == "error").all() and oom["score"].isna().all()
        assert oom["error"].str.contains("out of memory").all()
        hung = by_opt["lion"]
        assert (hung["status"] == "timeout").all() and hung["error"].str.contains("trial-timeout").all()
        crashed = by_opt["sgd"]
        assert (crashed["status"] == "error").all() and crashed["error"].str.contains("scratch disk").all()

        # the config errors reached adamw's TPE as the chance score; adam's TPE saw real scores
        storage = optuna_storage(str(study_dir / "optuna.journal"))
        told = optuna.load_study(study_name="digits/adamw", storage=storage).trials
        assert [t.state.name for t in told] == ["COMPLETE"] * 2 and [t.value for t in told] == [10.0] * 2
        adam = optuna.load_study(study_name="digits/adam", storage=storage).trials
        assert all(t.value > 10.0 for t in adam)

        from mlflow import MlflowClient

        # a client of its own: mlflow.set_tracking_uri would also set $MLFLOW_TRACKING_URI, which
        # later studies in this process would then log to
        client = MlflowClient(tracking_uri=f"sqlite:///{study_dir / 'mlflow.db'}")
        assert len(client.search_runs([client.get_experiment_by_name("scale/tune").experiment_id])) == 8

        table = status_table(study_dir).set_index(["phase", "optimizer"])
        assert table.loc[("tune", "adam"), ["done", "errored", "remaining"]].tolist() == [2, 0, 0]
        assert table.loc[("tune", "lion"), ["done", "errored", "remaining"]].tolist() == [0, 2, 0]
        assert table.loc[("default", "sgd"), "errored"] == 1

        # the node's disk is back: rerun the errored (crashed) trials, and only those
        disk_ok.touch()
        with _sleeping_cells(behaviour), _no_report():
            code = main(["launch", "--resume", "--retry-errored", "--name", "scale", "--storage", str(tmp_path)])
        out, err = capsys.readouterr()
        assert code == 1 and "no usable result for 4 cell phase(s)" in err, out + err  # sgd's are back
        again = pd.read_csv(study_dir / "trials.csv")
        assert again["trial_id"].is_unique and set(again["trial_id"]) == set(trials["trial_id"])
        assert (again.loc[again["optimizer"] == "sgd", "status"] == "ok").all()
        kept = trials[trials["optimizer"] != "sgd"].set_index("trial_id")
        now = again.set_index("trial_id").loc[kept.index]
        assert now["status"].tolist() == kept["status"].tolist()
        pd.testing.assert_series_equal(now["wall_time"], kept["wall_time"])  # not rerun
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_trials_fill_every_slot_of_a_simulated_gpu_cluster(tmp_path):
    """Two nodes of 2 logical GPUs: 4 slots, filled at once by the trials of all cells (the full
    4 x 8 GPU measurement is benchmarks/cluster_occupancy.py)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from cluster_occupancy import run

    result = run(trial_s=1.5, nodes=2, gpus_per_node=2, waves=2, cpus_per_trial=0.5, cpus_per_node=1.0,
                 storage=str(tmp_path))
    assert result["slots"] == 4 and result["concurrency"] == 4
    assert result["trials"] == result["ok"] == 8
    assert result["peak_busy"] == 4  # every slot busy at once, and never more trials than GPUs
    assert result["cells_overlap"]  # cells interleave instead of running one after another
