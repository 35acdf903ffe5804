"""`--seeds auto` through Ray Tune: a clear claim stops at min, a close one goes to max, and a
driver stopped mid-round resumes that round exactly (tests/claim_runner.py sets the truth)."""
from __future__ import annotations

import contextlib
import io
import json
from unittest import mock

import pandas as pd
import pytest

from study import launch as launch_module
from study.cli import main
from study.status import print_status

pytestmark = pytest.mark.slow
# thermolion beats adam by 5 points with ~no noise (clear); thermolion and muadam_paper are equal, muadam_paper
# noisy (close): on mnist5k both are the paper's Table 2 claims
QUALITY = {"thermolion": 97.0, "adam": 92.0, "muadam_paper": 97.0}
NOISE = {"thermolion": 0.05, "adam": 0.05, "muadam_paper": 1.0}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """seeds 3-6 (looks at 3, 5, 6); the driver is stopped as round 3 starts, then resumed."""
    import ray

    root = tmp_path_factory.mktemp("rounds")
    original_cells, original_run = launch_module.cell_configs, launch_module.run_fixed_phase
    seen = {}

    def cells(spec, resources):
        return {key: {**base, "_runner": "tests.claim_runner", "quality": QUALITY, "noise": NOISE}
                for key, base in original_cells(spec, resources).items()}

    def stop_at_round_3(spec, configs, resources, resume, retry_errored=False, name="fixed"):
        if name == "fixed_r3" and not seen:
            seen["state"] = json.loads((spec.study_dir / "study.json").read_text())
            raise launch_module.StudyInterrupted("stopped as round 3 starts")
        return original_run(spec, configs, resources, resume, retry_errored, name)

    args = ["launch", "--tasks", "mnist5k", "--optimizers", "thermolion,adam,muadam_paper", "--trials", "1",
            "--iid-trials", "1", "--epochs", "1", "--seeds", "3-6", "--phases", "tune,confirm",
            "--storage", str(root), "--name", "auto"]
    try:
        with mock.patch.object(launch_module, "cell_configs", cells), \
                mock.patch.object(launch_module, "run_fixed_phase", stop_at_round_3), \
                mock.patch("reports.write_report", return_value={"report.html": "-"}), \
                mock.patch("study.cli._write_report", return_value=0):  # the report is not under test here
            with contextlib.redirect_stdout(io.StringIO()) as out:
                first = main(args)
            seen["out"] = out.getvalue()
            with contextlib.redirect_stdout(io.StringIO()) as status:
                print_status(root / "auto")
            seen["status"] = status.getvalue()
            resumed = main(["launch", "--resume", "--storage", str(root), "--name", "auto"])
    finally:
        ray.shutdown()
    study_dir = root / "auto"
    return {"codes": (first, resumed), "stopped": seen["state"], "status": seen["status"], "out": seen["out"], "dir": study_dir,
            "state": json.loads((study_dir / "study.json").read_text()),
            "trials": pd.read_csv(study_dir / "trials.csv")}


def test_clear_claim_stops_at_min_close_claim_goes_to_max(study):
    assert study["codes"][1] == 0
    confirm = study["trials"][study["trials"]["phase"] == "confirm"]
    assert confirm.groupby("optimizer").size().to_dict() == {"adam": 3, "muadam_paper": 6, "thermolion": 6}
    assert confirm["trial_id"].is_unique

    from reports.load import normalize_trials
    from reports.rounds import claim_rounds

    table = claim_rounds(normalize_trials(study["trials"]), 3, 6)
    table = table[table["setting"] == "fair"].set_index("claim_id")
    clear, close = table.loc["thermolion-T2-mnist5k-thermolion-adam"], table.loc["thermolion-T2-mnist5k-thermolion-muadam_paper"]
    assert (clear["seeds"], clear["verdict"], clear["why"]) == (3, "holds", "decided at 3 seeds")
    assert close["seeds"] == 6 and close["verdict"] == "inconclusive" and close["why"].startswith("max reached")


def test_rounds_are_recorded_and_resume_mid_round_is_exact(study):
    stopped, state = study["stopped"], study["state"]
    assert study["codes"][0] == 130  # the first driver stopped
    # round 3 was in study.json before its Tuner started, and the resumed driver ran exactly it
    assert [r["name"] for r in stopped["rounds"]] == ["fixed_r2", "fixed_r3"]
    assert stopped["rounds"] == state["rounds"]
    assert "[confirm round 2] mnist5k x muadam_paper: 2/2 done" in study["out"]  # progress lines name the round
    assert stopped["rounds"][0]["why"] == ["thermolion > muadam_paper on mnist5k (fair): 3 → 5 seeds, interval still crosses 0"]
    # `status` on the stopped study: the round and why it runs, its trials remaining
    assert "seeds auto (3 to 6 per cell): round 3, 2 more trials because:" in study["status"]
    assert "thermolion > muadam_paper on mnist5k (fair): 5 → 6 seeds, interval still crosses 0" in study["status"]
    assert "total: 16 done, 0 running, 0 errored, 2 remaining" in study["status"]
    r3 = {c["_trial_id"] for c in state["rounds"][1]["configs"]}
    assert r3 == {"confirm-mnist5k-thermolion-fair-s1005", "confirm-mnist5k-muadam_paper-fair-s1005"}
    assert state["phases"].get("confirm") == "done"
    assert (study["dir"] / "records" / "fixed_r3.csv").is_file()


def test_report_says_when_and_why_each_claim_stopped(study):
    import reports

    paths = reports.write_report(study["dir"], log=lambda _: None)
    table = pd.read_csv(paths["claims.csv"]).set_index("claim_id")
    assert table.loc["thermolion-T2-mnist5k-thermolion-adam", "fair_why"] == "decided at 3 seeds"
    assert table.loc["thermolion-T2-mnist5k-thermolion-muadam_paper", "fair_seeds"] == 6
    report = paths["report.md"].read_text()
    assert "holds (decided at 3 seeds)" in report and "inconclusive (max reached: an effect under" in report
