"""The trackers' files read back by the trackers' own clients (`--log-to mlflow,tensorboard` and the
Optuna journal): MLflow's client lists one run per trial with its parameters and final score,
TensorBoard's EventAccumulator reads each trial's scalars, optuna.load_study loads every cell with
its finished trials. One small study (the sleeping test runner, no training) serves all three."""
from __future__ import annotations

import importlib.util
from unittest import mock

import pandas as pd
import pytest

from study import launch as launch_module
from study.cli import main

pytestmark = pytest.mark.slow  # starts Ray (CI still runs it)

OPTIMIZERS = ("adam", "lion")
TRIALS, EPOCHS = 2, 2


def _need(module: str, package: str):
    return pytest.mark.skipif(importlib.util.find_spec(module) is None,
                              reason=f"{package} is not installed (pip install -e '.[tracking]')")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A tune + default study of 2 cells x 2 trials, 2 epochs each, logged to MLflow and TensorBoard
    (each only where its package is installed)."""
    import ray

    trackers = [t for t, m in (("mlflow", "mlflow"), ("tensorboard", "tensorboardX")) if importlib.util.find_spec(m)]
    root = tmp_path_factory.mktemp("trackers")
    original = launch_module.cell_configs

    def sleeping(spec, resources):
        return {key: {**base, "_runner": "tests.sleep_runner", "sleep_s": 0.0}
                for key, base in original(spec, resources).items()}

    args = ["launch", "--optimizers", ",".join(OPTIMIZERS), "--trials", str(TRIALS), "--iid-trials", str(TRIALS),
            "--epochs", str(EPOCHS), "--seeds", "1", "--phases", "tune,default", "--storage", str(root), "--name", "trk"]
    if trackers:
        args += ["--log-to", ",".join(trackers)]
    try:
        with mock.patch.object(launch_module, "cell_configs", sleeping), \
                mock.patch("reports.write_report", return_value={}):
            assert main(args) == 0
    finally:
        ray.shutdown()
    study_dir = root / "trk"
    return study_dir, pd.read_csv(study_dir / "trials.csv").set_index("trial_id")


@_need("mlflow", "mlflow-skinny")
def test_mlflow_client_lists_one_run_per_trial_with_params_and_final_score(study):
    from mlflow import MlflowClient

    study_dir, trials = study
    client = MlflowClient(tracking_uri=f"sqlite:///{study_dir / 'mlflow.db'}")
    for tuner, rows in trials.groupby(trials["phase"] == "tune"):  # one experiment per Tuner: tune, fixed
        experiment = client.get_experiment_by_name(f"trk/{'tune' if tuner else 'fixed'}")
        runs = client.search_runs([experiment.experiment_id])
        by_trial = {run.info.run_name: run for run in runs}  # runs are named by the study's trial ids
        assert len(runs) == len(rows) and set(by_trial) == set(rows.index)  # one run per trial
        for trial_id, row in rows.iterrows():
            run = by_trial[trial_id]
            params = {k.removeprefix("trial/"): v for k, v in run.data.params.items()}  # fixed configs are nested
            assert run.info.status == "FINISHED" and params["_trial_id"] == trial_id
            assert params["optimizer"] == row["optimizer"] and float(params["lr"]) == pytest.approx(row["hp_lr"])
            assert run.data.metrics["score"] == pytest.approx(row["score"])  # the final result's score
            history = client.get_metric_history(run.info.run_id, "score")
            assert len(history) == EPOCHS + 1  # one per epoch, then the final result


@_need("tensorboard", "tensorboard")
def test_tensorboard_event_accumulator_reads_each_trials_scalars(study):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    study_dir, trials = study
    for trial_id, row in trials.iterrows():
        tuner = "tune" if row["phase"] == "tune" else "fixed"
        events = EventAccumulator(str(study_dir / "ray" / tuner / trial_id)).Reload()
        tags = events.Tags()["scalars"]
        score = next(t for t in tags if t.endswith("/score"))
        values = [e.value for e in events.Scalars(score)]
        assert len(values) == EPOCHS + 1 and values[-1] == pytest.approx(row["score"]), trial_id  # epochs + final


def test_optuna_load_study_reads_every_cell_with_its_finished_trials(study):
    import optuna

    from study.searcher import optuna_storage

    study_dir, trials = study
    storage = optuna_storage(str(study_dir / "optuna.journal"))
    tune = trials[trials["phase"] == "tune"]
    names = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    assert names == {f"digits/{o}" for o in OPTIMIZERS}
    for optimizer in OPTIMIZERS:
        told = optuna.load_study(study_name=f"digits/{optimizer}", storage=storage).trials
        assert [t.state.name for t in told] == ["COMPLETE"] * TRIALS
        scores = tune.loc[tune["optimizer"] == optimizer, "score"]
        assert sorted(t.value for t in told) == pytest.approx(sorted(scores))
        assert sorted(t.params["lr"] for t in told) == pytest.approx(sorted(tune.loc[scores.index, "hp_lr"]))
