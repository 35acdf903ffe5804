"""A real tiny study through Ray Tune: records, phases, report, retries and resume."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from study.cli import main

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture
def ray_shutdown():
    yield
    import ray

    ray.shutdown()


def test_tiny_study_end_to_end(tmp_path, capsys, ray_shutdown):
    code = main(["launch", "--optimizers", "adamw,lion", "--trials", "2", "--iid-trials", "2", "--epochs", "1",
                 "--seeds", "1", "--phases", "tune,confirm,default", "--storage", str(tmp_path), "--name", "tiny",
                 "--fault-rate", "0.3"])
    out = capsys.readouterr().out
    assert code == 0
    study_dir = tmp_path / "tiny"
    assert "[tune] digits x adamw: 2/2 done" in out and "[tune] digits x lion: 2/2 done" in out
    assert str(study_dir) in out

    trials = pd.read_csv(study_dir / "trials.csv")
    for column in ["trial_id", "phase", "task", "optimizer", "seed", "status", "score", "test_score", "iid",
                   "hp_lr", "hp_weight_decay", "hp_batch_size"]:
        assert column in trials.columns, column
    assert trials["trial_id"].is_unique
    tune = trials[trials["phase"] == "tune"]
    assert tune.groupby("optimizer").size().to_dict() == {"adamw": 2, "lion": 2}
    assert tune["iid"].all()
    assert set(trials["status"]) <= {"ok", "diverged"}  # injected faults were retried, not recorded as errors
    assert (study_dir / "faults").is_dir() and any((study_dir / "faults").iterdir())
    ok = trials[trials["status"] == "ok"]
    assert ok["score"].between(0, 100).all()
    confirm = trials[trials["phase"] == "confirm"]
    assert sorted(confirm["optimizer"]) == ["adamw", "lion"]
    assert confirm["test_score"].notna().all()
    # confirm re-runs each cell's best tune config on a fresh seed
    for optimizer, row in confirm.set_index("optimizer").iterrows():
        cell = tune[tune["optimizer"] == optimizer]
        best = cell.sort_values("score", ascending=False).iloc[0]
        assert row["hp_lr"] == pytest.approx(best["hp_lr"])
        assert row["seed"] not in set(cell["seed"])
    assert set(trials["phase"]) == {"tune", "confirm", "default"}
    # `python -m study plan` with the same flags counts exactly the trials that ran
    code = main(["plan", "--optimizers", "adamw,lion", "--trials", "2", "--iid-trials", "2", "--epochs", "1",
                 "--seeds", "1", "--phases", "tune,confirm,default"])
    planned = capsys.readouterr().out
    assert code == 0
    for phase, n in trials["phase"].value_counts().items():
        assert f"  {phase}: {n} trials" in planned, planned
    assert f"total: {len(trials)} trials" in planned

    history = pd.read_csv(study_dir / "history.csv")
    assert {"trial_id", "epoch", "key", "value"} <= set(history.columns)
    assert set(history["trial_id"]) <= set(trials["trial_id"])
    assert "train_loss" in set(history["key"])

    summary = pd.read_csv(study_dir / "summary.csv")
    for column in ["task", "optimizer", "n_trials", "n_diverged", "best_score", "test_mean", "test_ci_low",
                   "test_ci_high"]:
        assert column in summary.columns, column
    assert len(summary) == 2
    assert (study_dir / "report.md").read_text().strip()
    assert "Phases: tune: done, confirm: done, default: done." in (study_dir / "report.md").read_text()
    assert "fixed" not in out  # one phase vocabulary in messages


def test_paper_phase_runs_the_paper_point_under_both_protocols(tmp_path, capsys, ray_shutdown):
    import search_spaces

    code = main(["launch", "--optimizers", "lion", "--phases", "paper", "--seeds", "2", "--paper-seeds", "1",
                 "--storage", str(tmp_path), "--name", "paper"])
    assert code == 0, capsys.readouterr().out
    trials = pd.read_csv(tmp_path / "paper" / "trials.csv")
    assert sorted(trials["protocol"]) == ["fair", "paper"]
    point = search_spaces.paper_point("lion", "thermolion", "digits")
    assert (trials["hp_lr"] == point["lr"]).all()  # the paper's lr/3 for Lion, no tuning
    paper = trials[trials["protocol"] == "paper"].iloc[0]
    assert paper["epochs_done"] == 12 and paper["steps"] == 12 * 2  # batch 1024 over digits' 1437 images
    assert (trials["epochs_done"] == 12).all()  # the paper's budget under the fair protocol too
    history = pd.read_csv(tmp_path / "paper" / "history.csv")
    mine = history[history["trial_id"] == paper["trial_id"]]
    assert sorted(mine.loc[mine["key"] == "train_loss", "epoch"]) == list(range(1, 13))
    # final accuracy only, as the paper measures it: no per-epoch score, not even a placeholder
    assert mine.loc[mine["key"] == "score", "epoch"].tolist() == [12]
    assert mine.loc[mine["key"] == "score", "value"].iloc[0] == pytest.approx(paper["score"])


def _launch_cmd(storage: Path, name: str, *extra: str, trials: int = 4) -> list[str]:
    return [sys.executable, "-m", "study", "launch", "--optimizers", "adamw,sgd", "--trials", str(trials),
            "--iid-trials", "2", "--epochs", "2", "--seeds", "1", "--phases", "tune,confirm",
            "--storage", str(storage), "--name", name, *extra]


def test_kill_9_then_resume_runs_the_exact_budget(tmp_path):
    """Killed mid-tune: 6 trials a cell leave the tune phase ~9 trials of work after the third
    finished one, longer than the `study status` call before the kill takes on a busy machine."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(_launch_cmd(tmp_path, "killed", trials=6), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen = []
    deadline = time.monotonic() + 240
    for line in proc.stdout:
        seen.append(line)
        if "done" in line and "[tune]" in line and sum("[tune]" in s for s in seen) >= 3:
            break
        assert time.monotonic() < deadline, "".join(seen)
    status = subprocess.run([sys.executable, "-m", "study", "status", str(tmp_path / "killed")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)  # while the study runs
    assert status.returncode == 0, status.stderr
    assert f"driver pid {proc.pid}" in status.stdout
    assert "total:" in status.stdout and " remaining" in status.stdout
    counts = [int(w) for w in status.stdout.split("total:")[1].replace(",", " ").split() if w.isdigit()]
    assert sum(counts) == 12 + 2, status.stdout  # tune 2 x 6, confirm 2 x 1: every trial is somewhere
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and everything it started
    proc.wait()

    partial = subprocess.run([sys.executable, "-m", "study", "report", str(tmp_path / "killed")], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=300)
    assert partial.returncode == 0, partial.stdout + partial.stderr
    assert (tmp_path / "killed" / "report.md").is_file()

    resumed = subprocess.run(_launch_cmd(tmp_path, "killed", "--resume", trials=6), cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=400)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming" in resumed.stdout
    trials = pd.read_csv(tmp_path / "killed" / "trials.csv")
    tune = trials[trials["phase"] == "tune"]
    assert tune.groupby("optimizer").size().to_dict() == {"adamw": 6, "sgd": 6}
    assert trials["trial_id"].is_unique
    assert set(tune["trial_id"]) == {f"tune-digits-{o}-{i}" for o in ("adamw", "sgd") for i in range(6)}
    assert (trials[trials["phase"] == "confirm"].groupby("optimizer").size() == 1).all()


def test_glue_study_resumes_crashed_trials_from_their_checkpoint(tmp_path, capsys, ray_shutdown):
    """Every trial crashes once right after its first eval; the retry continues from the checkpoint."""
    import json
    import random

    data = tmp_path / "sst2"
    data.mkdir()
    rng = random.Random(0)
    for split, n in (("train", 200), ("validation", 40)):
        rows = []
        for i in range(n):
            label = rng.randint(0, 1)
            rows.append({"sentence": f"the movie was {'good' if label else 'bad'} really", "label": label, "idx": i})
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tmp_path / "glue.yaml"
    config.write_text(
        f"tasks: [glue-sst2]\noptimizers: [adamw]\ntrials: 1\niid_trials: 1\nepochs: 3\nphases: [tune]\n"
        f"fault_rate: 1.0\nstorage: {tmp_path}\nname: glue\n"
        f"task_config: {{model: tiny, data_dir: {data}, cache_dir: {tmp_path / 'cache'}, steps: 6, n_val: 40}}\n"
        "search_space: {adamw: {batch_size: 16}}\n")
    code = main(["launch", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 0, out
    trials = pd.read_csv(tmp_path / "glue" / "trials.csv")
    assert list(trials["status"]) == ["ok"] and trials["steps"].iloc[0] == 6
    assert len(list((tmp_path / "glue" / "faults").iterdir())) == 1
    # Ray's raw progress of the trial: the retry continued at eval 2 instead of re-running eval 1
    progress = pd.concat(pd.read_csv(p) for p in (tmp_path / "glue" / "ray" / "tune").glob("*/progress.csv"))
    evals = progress.loc[progress["final"] == False, "epoch"].tolist()  # noqa: E712
    assert evals == [1, 2, 3], evals


def test_ctrl_c_keeps_finished_trials_and_says_how_to_resume(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(_launch_cmd(tmp_path, "interrupted"), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "[tune]" in line and "done" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=240)
    output = "".join(seen) + rest
    assert proc.returncode == 130, output
    from study.console import python_command

    assert f"{python_command()} -m study launch --resume --name interrupted" in output  # this interpreter
    assert "Traceback" not in output
    assert "Tuner.restore" not in output and "Failed to fetch" not in output  # Ray's own hints go to study.log
    assert "Tuner.restore" in (tmp_path / "interrupted" / "study.log").read_text()
    trials = pd.read_csv(tmp_path / "interrupted" / "trials.csv")
    assert 1 <= len(trials) < 8 and (trials["phase"] == "tune").all()
    state = (tmp_path / "interrupted" / "study.json").read_text()
    assert '"tune": "done"' not in state


def _checkpoint_files(roots: list[Path]) -> dict[str, list[int]]:
    """{trial id: sizes of its checkpoint files} under Ray's trial dirs (ray/<tuner>/<id>/checkpoint_*)
    and the adapter's local copies (ckpt-<id>-<random suffix>)."""
    out: dict[str, list[int]] = {}
    for root in roots:
        for path in list(root.glob("ray/*/*/checkpoint_*/*")) + list(root.glob("ckpt-*/*")):
            try:
                size = path.stat().st_size
            except FileNotFoundError:  # deleted between glob and stat
                continue
            if path.parent.name.startswith("checkpoint_"):
                trial = path.parent.parent.name
            else:
                trial = path.parent.name.removeprefix("ckpt-").rsplit("-", 1)[0]
            out.setdefault(trial, []).append(size)
    return out


def test_glue_study_paper_phase_fills_both_claim_settings(tmp_path, capsys, ray_shutdown, monkeypatch):
    """Tiny T5 on CoLA-format files, every phase: a smoke GLUE study (task_config paper_steps, batch
    sizes capped at the 90-example training split, said in plan and report) gives both settings of
    SepNorm's Table 3 claims; no checkpoint outlives its trial."""
    import json
    import random
    import threading

    local_tmp = tmp_path / "tmp"
    local_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(local_tmp))  # the trials' local checkpoint copies land here
    monkeypatch.setenv("RAY_TMPDIR", "/tmp")
    data = tmp_path / "cola"
    data.mkdir()
    rng = random.Random(0)
    for split, n in (("train", 100), ("validation", 40)):  # 10 held out: 90 to train on
        rows = [{"sentence": f"the cat {'sat' if (label := rng.randint(0, 1)) else 'sat sat'} down", "label": label,
                 "idx": i} for i in range(n)]
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tmp_path / "glue.yaml"
    config.write_text(
        "tasks: [glue-cola]\noptimizers: [adamw, sepnorm]\ntrials: 1\niid_trials: 1\nepochs: 3\nseeds: 2\npaper_seeds: 2\n"
        f"storage: {tmp_path}\nname: glue\n"
        f"task_config: {{model: tiny, data_dir: {data}, cache_dir: {tmp_path / 'cache'}, steps: 6, paper_steps: 6}}\n")
    assert main(["plan", "--config", str(config)]) == 0
    plan = capsys.readouterr().out
    assert "GLUE paper phase: 6 steps" in plan and "batch sizes on glue-cola: at most 90" in plan
    peak: dict[str, int] = {}
    largest = [0]  # one checkpoint file
    done = threading.Event()

    def poll():
        while not done.is_set():
            for trial, sizes in _checkpoint_files([tmp_path / "glue", local_tmp]).items():
                peak[trial] = max(peak.get(trial, 0), sum(sizes))
                largest[0] = max(largest[0], *sizes)
            time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        code = main(["launch", "--config", str(config)])
    finally:
        done.set()
        poller.join()
    assert code == 0, capsys.readouterr().out
    trials = pd.read_csv(tmp_path / "glue" / "trials.csv")
    paper = trials[trials["phase"] == "paper"]
    assert sorted(paper.groupby("protocol").size().items()) == [("fair", 4), ("paper", 4)]
    assert (paper["steps"] == 6).all() and (paper["epochs_done"] == 3).all()
    assert (paper["hp_batch_size"] == 90).all()  # the paper's 128, capped at the training split
    assert (trials["status"] == "ok").all() and set(trials["phase"]) == {"tune", "confirm", "default", "paper"}
    assert (trials.loc[trials["phase"] == "default", "hp_batch_size"] == 90).all()
    assert (trials.loc[trials["phase"] == "tune", "hp_batch_size"] <= 90).all()
    assert json.loads((tmp_path / "glue" / "study.json").read_text())["batch_caps"] == {"glue-cola": 90}
    assert set(paper.loc[paper["optimizer"] == "sepnorm", "hp_lr"]) == {1e-5}
    tune = trials[trials["phase"] == "tune"]
    assert tune["test_score"].isna().all() and trials.loc[trials["phase"] != "tune", "test_score"].notna().all()
    assert "truncated_train" in trials.columns and (trials["truncated_train"] == 0).all()

    claims = pd.read_csv(tmp_path / "glue" / "claims.csv").set_index("claim_id")
    claim = claims.loc["sepnorm-T3-glue-cola-sepnorm-adamw"]
    assert claim["paper_n"] == 2 and claim["paper_protocol"] == "paper"
    assert claim["fair_n"] == 2 and claim["fair_protocol"] == "fair"
    for setting in ("paper", "fair"):
        assert claim[f"{setting}_verdict"] in ("holds", "inconclusive", "does not hold")  # run, with a test
    report = (tmp_path / "glue" / "report.md").read_text()
    assert "GLUE average" in report and "Batch sizes on glue-cola capped at 90" in report

    # checkpoints: written (each trial evaluates 3 times: 2 checkpoints), one kept per running trial
    # (the hand-over holds the new local file, Tune's copy of it and the previous one for a moment),
    # none left once the trials ended
    assert not _checkpoint_files([tmp_path / "glue", local_tmp])
    assert not list((tmp_path / "glue" / "ray").glob("*/trial_*/checkpoint_*"))
    # the poller sees most trials' checkpoints (a 6-step trial's can live shorter than one poll on a
    # loaded machine), and no trial ever held more than the hand-over's three
    assert len(peak) >= 0.75 * len(trials) and largest[0] > 0
    assert max(peak.values()) <= 3 * largest[0]
