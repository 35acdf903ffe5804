"""`python -m study report DIR` on any directory with trials.csv: missing spec fields get defaults
and a note; anything unreadable is one line and exit 2."""
from __future__ import annotations

import json

import pytest

from study.cli import main
from synthetic_study import make_study


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    return make_study(tmp_path_factory.mktemp("cli") / "src", tasks=("digits",), optimizers=("adamw", "lion"), n_trials=6,
                      iid_trials=4, seeds=2, missing=(), partial=(), history=False)


def _copy(src, dst, meta=None):
    dst.mkdir()
    (dst / "trials.csv").write_text((src / "trials.csv").read_text())
    if meta is not None:
        (dst / "study.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    return dst


@pytest.mark.parametrize("meta", [None, {"name": None, "spec": {"tasks": ["digits"]}, "phases": {}}])
def test_report_on_records_without_a_full_spec(meta, records, tmp_path, capsys):
    study = _copy(records, tmp_path / "copy", meta)
    assert main(["report", str(study)]) == 0, capsys.readouterr().err
    md = (study / "report.md").read_text()
    assert "does not give trials, iid_trials, seeds: taken from the records" in md
    assert "trials = 6" in md and "seeds = 2" in md
    summary = (study / "summary.csv").read_text()
    assert "incomplete" not in summary  # judged against what the records show was planned
    if meta is not None:
        assert "named after its directory, 'copy'" in md


def test_report_of_a_running_study_leaves_its_records_to_the_driver(records, tmp_path, capsys, monkeypatch):
    import os
    import socket
    import time

    from study import launch

    running = _copy(records, tmp_path / "running", {"name": "running", "spec": {"tasks": ["digits"]}, "phases": {}})
    (running / "study.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                                  "started": time.time(), "heartbeat": time.time()}))

    def refresh(study_dir):
        raise AssertionError("records written behind a running driver's back")

    monkeypatch.setattr(launch, "refresh_records", refresh)
    assert main(["report", str(running)]) == 0, capsys.readouterr().err
    assert f"driver pid {os.getpid()}" in capsys.readouterr().out and (running / "report.md").exists()


@pytest.mark.parametrize("meta, trials, needle", [
    ("{not json", None, "not valid JSON"),
    ('["a list"]', None, "JSON object"),
    ({"name": "x", "spec": "oops"}, None, "spec"),
    ({"name": "x"}, "trial_id,phase\n1,tune\n", "missing column"),
    ({"name": "x"}, "\x00\x01\x02 binary garbage", "trials.csv"),
])
def test_unreadable_study_is_one_line_exit_2(meta, trials, needle, records, tmp_path, capsys):
    study = _copy(records, tmp_path / "bad", meta)
    if trials is not None:
        (study / "trials.csv").write_text(trials)
    code = main(["report", str(study)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err, err
    assert "Traceback" not in err
