"""What a user sees: commands with the running interpreter, did-you-mean, progress lines that show the
report's statistic and continue across resume, failure summaries and exit codes, phase names."""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from study.cli import _parser, main
from study.console import PROJECT_ROOT, python_command, study_command

ROOT = Path(__file__).resolve().parents[1]


def test_python_command_is_the_running_interpreter():
    venv = str(PROJECT_ROOT / ".venv" / "bin" / "python")
    assert python_command(venv, str(PROJECT_ROOT)) == ".venv/bin/python"
    assert python_command(venv, "/tmp") == venv  # from elsewhere the short form would not resolve
    assert python_command("/opt/my env/bin/python3", str(PROJECT_ROOT)) == "'/opt/my env/bin/python3'"
    assert study_command("launch", "--name", "a b").startswith(python_command() + " -m study launch --name 'a b'")
    assert not study_command("list").startswith("python ")


def test_interrupt_prints_the_resume_command_with_this_interpreter(tmp_path, capsys, monkeypatch):
    import study.launch

    def interrupted(spec, resume=False, retry_errored=False):
        raise study.launch.StudyInterrupted("tune phase interrupted with 3/8 trials finished")

    monkeypatch.setattr(study.launch, "launch", interrupted)
    code = main(["launch", "--storage", str(tmp_path), "--name", "x"])
    err = capsys.readouterr().err
    assert code == 130
    assert f"{python_command()} -m study launch --resume --name x --storage {tmp_path}" in err
    assert "3/8 trials finished" in err and "Tuner.restore" not in err


@pytest.mark.parametrize("args, hint", [
    (["launch", "--optimizers", "adamww"], "did you mean 'adamw'?"),
    (["launch", "--tasks", "cifar10-resnet2"], "did you mean 'cifar10-resnet20'?"),
    (["launch", "--tasks", "fashion-mnist"], "did you mean 'fashion_mnist'?"),
    (["launch", "--preset", "thermolion_paper"], "did you mean 'thermolion-paper'?"),
    (["launch", "--phases", "tune,confrm"], "did you mean 'confirm'?"),
    (["launch", "--trails", "3"], "did you mean '--trials'?"),
    (["launch", "--max-concurent=2"], "did you mean '--max-concurrent'?"),
    (["lauch"], "did you mean 'launch'?"),
    (["data", "prepare", "--datasets", "cifar100,svnh"], "did you mean 'svhn'?"),
])
def test_did_you_mean(args, hint, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and hint in err, err
    assert list(tmp_path.iterdir()) == []


def test_no_suggestion_for_a_name_far_from_every_choice(capsys):
    assert main(["launch", "--optimizers", "zzzzzz"]) == 2
    assert "did you mean" not in capsys.readouterr().err


def test_every_flag_has_help_text():
    def parsers(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from parsers(sub)

    for parser in parsers(_parser()):
        for action in parser._actions:
            if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                assert action.help, f"{parser.prog} {action.option_strings or action.dest} has no help"


# ----------------------------------------------------------------------------- progress lines
def _trial(trial_id, phase, score=None, test=None, status="ok", protocol="fair", state="TERMINATED", epochs=2):
    config = {"phase": phase, "task": "digits", "optimizer": "adamw", "protocol": protocol, "epochs": epochs}
    result = {"status": status, "score": score, "test_score": test, "chance": 10.0, "final": True}
    return SimpleNamespace(trial_id=trial_id, config=config, last_result=result, status=state)


def test_progress_shows_the_reports_statistic(capsys):
    from study.progress import CellProgress, progress_key, start_clock

    start_clock()
    confirm = [_trial("c1", "confirm", score=90.0, test=80.0), _trial("c2", "confirm", score=95.0, test=70.0),
               _trial("c3", "confirm", status="diverged", score=10.0)]
    progress = CellProgress({progress_key(confirm[0].config): 3}, study_trials=3, study_epochs=6.0)
    progress.on_trial_start(0, confirm, confirm[0])
    for i, trial in enumerate(confirm):
        progress.on_trial_complete(0, confirm[: i + 1], trial)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[confirm] digits x adamw: 1/3 done, mean test 80.0 |")
    assert lines[1].startswith("[confirm] digits x adamw: 2/3 done, mean test 75.0 |")  # the report's mean test
    assert lines[2].startswith("[confirm] digits x adamw: 3/3 done, mean test 53.3 (1 diverged) |")  # at chance
    assert "study 3/3 done" in lines[2] and "ETA 0m00s" in lines[2]

    tune = [_trial("t1", "tune", score=60.0), _trial("t2", "tune", score=75.0)]
    progress = CellProgress({progress_key(tune[0].config): 2}, study_trials=5, study_epochs=10.0)
    for i, trial in enumerate(tune):
        progress.on_trial_complete(0, tune[: i + 1], trial)
    assert "2/2 done, best val 75.0 | study 2/5 done" in capsys.readouterr().out


def test_progress_continues_across_resume(capsys):
    """A restored Tuner's trials that had finished are counted before the first new one."""
    from study.progress import CellProgress, progress_key, start_clock

    start_clock()
    trials = [_trial(f"t{i}", "tune", score=50.0 + i) for i in range(3)]
    trials[1] = _trial("t1", "tune", status="error", state="ERROR")
    pending = _trial("t3", "tune", score=40.0, state="RUNNING")
    progress = CellProgress({progress_key(trials[0].config): 6}, study_trials=12, study_epochs=24.0)
    progress.setup()  # what Tune calls when the restored run starts
    pending.status = "TERMINATED"
    progress.on_trial_complete(0, trials + [pending], pending)
    line = capsys.readouterr().out
    assert "[tune] digits x adamw: 4/6 done, best val 52.0 (1 errored) | study 4/12 done" in line, line


def test_paper_progress_names_its_protocol():
    from study.progress import progress_key, statistic

    config = {"phase": "paper", "task": "digits", "optimizer": "lion", "protocol": "paper"}
    assert progress_key(config) == "[paper] digits x lion, paper protocol"
    assert statistic("paper", "paper") == "mean score" and statistic("paper", "fair") == "mean test"


# ----------------------------------------------------------------------------- failures and exit codes
def test_failure_summary_one_line_per_cause_and_exit_code(tmp_path, capsys):
    from study.outcome import EXIT_FAILED, summarize

    cause = "FileNotFoundError: dataset 'cifar10' is not prepared in /d; run: python -m study data prepare"
    rows = [("tune", "cifar10", "adamw", "error", cause)] * 3 + [
        ("tune", "digits", "adamw", "ok", ""), ("tune", "digits", "adamw", "error", "RuntimeError: CUDA out of memory"),
        ("default", "digits", "adamw", "diverged", "")]
    pd.DataFrame(rows, columns=["phase", "task", "optimizer", "status", "error"]).to_csv(tmp_path / "trials.csv")
    code = summarize(tmp_path, tmp_path / "study.log")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_FAILED
    assert err == [f"3 trials failed: {cause}", "1 trial failed: RuntimeError: CUDA out of memory",
                   "no usable result for 1 cell phase(s): tune cifar10 x adamw", f"tracebacks: {tmp_path / 'study.log'}"]

    pd.DataFrame(rows[3:], columns=["phase", "task", "optimizer", "status", "error"]).to_csv(tmp_path / "trials.csv")
    assert summarize(tmp_path, tmp_path / "study.log") == 0  # an error beside a scored trial: reported, usable
    assert "1 trial failed" in capsys.readouterr().err


class _EmptyGrid(list):
    """A Tune ResultGrid with no trials."""
    _experiment_analysis = SimpleNamespace(trials=[])


def test_phase_names_replace_the_internal_fixed(tmp_path):
    from study.launch import StudyInterrupted, _record, phase_names
    from study.spec import build_spec

    spec = build_spec("quick")
    assert phase_names(spec, "fixed") == "confirm/default/paper" and phase_names(spec, "tune") == "tune"
    with pytest.raises(StudyInterrupted, match=r"^confirm/default/paper phase interrupted with 0/4"):
        _record(tmp_path, "fixed", _EmptyGrid(), expected=4, label=phase_names(spec, "fixed"))


def test_old_state_with_fixed_reads_as_phase_names(tmp_path):
    import json

    from study.launch import load_state

    state = {"name": "s", "spec": {"phases": ["tune", "default", "paper"]}, "phases": {"tune": "done", "fixed": "done"}}
    (tmp_path / "study.json").write_text(json.dumps(state))
    assert load_state(tmp_path)["phases"] == {"tune": "done", "default": "done", "paper": "done"}


@pytest.mark.slow
def test_study_without_its_data_stops_before_any_trial_with_one_line_cause(tmp_path, capfd):
    """A task whose data directory is empty: the preflight stops the study before any trial (the
    cause once, on one line, no traceback). A study whose cells all error at run time exits 1 with
    one line per cause: test_study_scale."""
    import ray

    empty = tmp_path / "data"
    empty.mkdir()
    config = tmp_path / "study.yaml"
    config.write_text("tasks: [mnist]\noptimizers: [adamw]\ntrials: 2\niid_trials: 2\nepochs: 1\nphases: [tune]\n"
                      f"max_failures: 0\ntask_config: {{data_dir: {empty}}}\n")
    try:
        code = main(["launch", "--config", str(config), "--storage", str(tmp_path / "studies"), "--name", "e"])
    finally:
        ray.shutdown()
    out, err = capfd.readouterr()
    assert code == 2, out + err
    assert "Traceback" not in out + err
    prepare = f"{shlex.quote(sys.executable)} -m study data prepare --datasets mnist --data-dir {empty}"
    assert f"data of task mnist not loadable: dataset 'mnist' is not prepared in {empty}; run: {prepare}" in out + err
    assert (out + err).count("is not prepared") == 1
    assert not (tmp_path / "studies" / "e" / "records").exists()  # no trial ran
