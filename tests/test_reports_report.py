"""write_report end to end on synthetic study directories (diverged, errored, missing, partial cells)."""
import json
import re

import numpy as np
import pandas as pd
import pytest

from reports import stats, write_report
from reports.load import load_study, normalize_trials
from synthetic_study import make_study

OVERALL_FIGURES = {"across_forest", "across_poi", "across_profile", "per_task_scores", "robustness_expected_max",
                   "curves_score", "curves_train_loss", "cost_time_per_step", "cost_time_to_target"}
TASK_FIGURES = {"sensitivity_{}_lr", "sensitivity_{}_weight_decay", "sensitivity_{}_batch_size", "sensitivity_{}_specific",
                "diagnostics_{}"}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = make_study(tmp_path_factory.mktemp("study") / "s1", tasks=("cifar10", "glue-cola"))
    return path, write_report(path, log=lambda msg: None)


def test_writes_every_file_and_every_figure(report):
    path, files = report
    for name in ("report.md", "report.html", "summary.csv", "emp.csv", "importance.csv", "claims.csv", "trials.csv"):
        assert files[name].exists() and files[name].parent == path
    figs = {p.stem for p in files["figures"].glob("*.png")}
    assert OVERALL_FIGURES <= figs
    assert {name.format("cifar10") for name in TASK_FIGURES} <= figs
    for p in (path / "figures").glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_contract_and_cell_states(report):
    path, files = report
    summary = pd.read_csv(files["summary.csv"])
    for col in ("task", "optimizer", "n_trials", "n_diverged", "best_score", "test_mean", "test_ci_low", "test_ci_high"):
        assert col in summary.columns
    state = summary.set_index(["task", "optimizer"])["state"]
    assert state[("glue-cola", "sepnorm")] == "not run"
    assert state[("cifar10", "lion")] == "incomplete"
    assert state[("cifar10", "adamw")] == "complete"
    assert summary["n_diverged"].sum() > 0 and summary["n_errors"].sum() > 0
    for col in ("test", "default", "paper", "paper_fair"):  # every interval inside its score's range
        low, high = summary[f"{col}_ci_low"], summary[f"{col}_ci_high"]
        floor = np.where(summary["task"] == "glue-cola", -100.0, 0.0)  # MCC: -100..100
        assert ((low >= floor) | low.isna()).all() and ((high <= 100) | high.isna()).all()
    assert stats.score_range(0.0) == (-100.0, 100.0) and stats.score_range(10.0) == (0.0, 100.0)
    md = files["report.md"].read_text()
    assert "sepnorm (not run)" in md and "lion (incomplete)" in md


def test_summary_numbers_match_the_trials_table(report):
    path, files = report
    trials = pd.read_csv(path / "trials.csv")
    summary = pd.read_csv(files["summary.csv"]).set_index(["task", "optimizer"])
    cell = trials[(trials["task"] == "cifar10") & (trials["optimizer"] == "thermolion")]
    tune = cell[cell["phase"] == "tune"]
    as_scored = np.where(tune["status"] == "diverged", tune["chance"], tune["score"])
    row = summary.loc[("cifar10", "thermolion")]
    assert row["best_score"] == pytest.approx(np.nanmax(as_scored))
    assert row["n_diverged"] == (tune["status"] == "diverged").sum() and row["n_trials"] == len(tune)
    confirm = cell[cell["phase"] == "confirm"]["test_score"]
    assert row["test_mean"] == pytest.approx(confirm.mean())
    assert row["test_ci_low"] <= row["test_mean"] <= row["test_ci_high"]
    emp = pd.read_csv(files["emp.csv"])
    first = emp[(emp["task"] == "cifar10") & (emp["optimizer"] == "thermolion") & (emp["k"] == 1)]["expected_max"].iloc[0]
    iid = tune["iid"].astype(str).str.lower() == "true"
    with_errors = np.where(tune["status"] == "error", tune["chance"], as_scored)[iid.to_numpy()]
    assert (tune["status"][iid] == "error").any()  # the case the rule is about
    assert first == pytest.approx(with_errors.mean())  # k = 1 is the mean, diverged and errored at chance
    assert row["n_iid_errors"] == (tune["status"][iid] == "error").sum()
    assert row["confirm_val_mean"] == pytest.approx(cell[cell["phase"] == "confirm"]["score"].mean())
    assert row["selection_gap"] == pytest.approx(row["best_score"] - row["confirm_val_mean"])
    from scipy import stats as sps
    half = sps.t.ppf(0.975, len(confirm) - 1) * confirm.std(ddof=1) / np.sqrt(len(confirm))
    assert row["test_ci_high"] - row["test_mean"] == pytest.approx(half)  # Student t interval
    assert {"task", "optimizer", "k", "expected_max", "band_low", "band_high"} <= set(emp.columns)


def test_html_is_self_contained(report):
    path, files = report
    html = files["report.html"].read_text()
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html, re.I)
    assert "<link" not in html and "<script" not in html
    srcs = re.findall(r'src="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert len(srcs) == len(list((path / "figures").glob("*.png")))


def test_claims_in_report(report):
    path, files = report
    c = pd.read_csv(files["claims.csv"]).set_index("claim_id")
    assert c.loc["thermolion-T1-cifar10-thermolion-adamw", "fair_verdict"] in ("holds", "inconclusive", "does not hold")
    assert c.loc["sepnorm-T3-glue-cola-sepnorm-adamw", "fair_verdict"] == "not run"
    md = files["report.md"].read_text()
    assert "ThermoLion > adamw on cifar10" in md and "Benjamini-Hochberg" in md and "Winner's curse" in md and "scored on the training data" in md


def test_report_of_a_study_that_has_not_run_yet(tmp_path):
    spec = {"tasks": ["digits"], "optimizers": ["adamw", "lion"], "trials": 8, "iid_trials": 4, "seeds": 2, "epochs": 1}
    (tmp_path / "study.json").write_text(json.dumps({"name": "fresh", "spec": spec, "phases": {"tune": "running"}}))
    files = write_report(tmp_path, log=lambda msg: None)
    summary = pd.read_csv(files["summary.csv"])
    assert list(summary["state"]) == ["not run", "not run"]
    assert "No confirm runs yet" in files["report.md"].read_text()


def test_bad_study_directories_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_study(tmp_path / "nope")
    with pytest.raises(ValueError, match="neither study.json nor trials.csv"):
        load_study(tmp_path)
    pd.DataFrame({"trial_id": [1], "phase": ["tune"], "task": ["digits"], "optimizer": ["adamw"]}).to_csv(tmp_path / "trials.csv")
    with pytest.raises(ValueError, match="missing column.*status"):
        load_study(tmp_path)


@pytest.mark.parametrize("column,bad", [("status", "exploded"), ("phase", "warmup"), ("protocol", "tuned"), ("iid", "maybe")])
def test_bad_values_are_named(column, bad):
    row = {"trial_id": 1, "phase": "tune", "task": "digits", "optimizer": "adamw", "protocol": "fair", "status": "ok",
           "score": 50.0, "iid": True, "chance": 10.0}
    row[column] = bad
    with pytest.raises(ValueError, match=bad):
        normalize_trials(pd.DataFrame([row]))


def test_diverged_rows_score_chance_and_errors_are_not_scored():
    rows = pd.DataFrame({"trial_id": [1, 2, 3, 4], "phase": "tune", "task": "digits", "optimizer": "adamw",
                         "status": ["ok", "diverged", "error", "diverged"], "score": [50.0, np.nan, np.nan, np.nan],
                         "test_score": [48.0, np.nan, np.nan, np.nan], "chance": [10.0, np.nan, 10.0, 12.0]})
    out = normalize_trials(rows)
    np.testing.assert_array_equal(out["value"].to_numpy(), [50.0, 10.0, np.nan, 12.0])  # row 2 takes the task's chance
    np.testing.assert_array_equal(out["test_value"].to_numpy(), [48.0, 10.0, np.nan, 12.0])
    with pytest.raises(ValueError, match="no chance score"):
        normalize_trials(rows.assign(chance=np.nan))


@pytest.mark.parametrize("spec,n_tune,n_confirm,expected", [
    ({"trials": 4, "seeds": 2}, 4, 2, "complete"),
    ({"trials": 4, "seeds": 2}, 3, 2, "incomplete"),
    ({"trials": 4, "seeds": 2}, 4, 1, "incomplete"),
    ({"trials": 4, "seeds": 2, "phases": ["tune"]}, 4, 0, "complete"),
    ({}, 2, 0, "incomplete"),  # no spec: a cell needs tune trials and a confirm run
    ({}, 0, 0, "not run"),
])
def test_cell_state(spec, n_tune, n_confirm, expected):
    from reports.cells import _state
    from reports.load import Study

    study = Study(path=None, name="s", spec=spec, phases={}, trials=pd.DataFrame(), history=pd.DataFrame())
    tune, confirm = pd.DataFrame({"x": range(n_tune)}), pd.DataFrame({"x": range(n_confirm)})
    assert _state(study, tune, confirm, pd.concat([tune, confirm])) == expected


def test_study_report_cli_writes_the_new_columns_and_verdicts(tmp_path, capsys):
    from study.cli import main

    path = make_study(tmp_path / "s2", tasks=("cifar10",), optimizers=("adam", "thermolion"), n_trials=8, iid_trials=4,
                      seeds=3, missing=(), partial=(), history=False)
    meta = json.loads((path / "study.json").read_text())
    meta["spec"].update(name="s2", storage=str(tmp_path))  # as launch writes it
    (path / "study.json").write_text(json.dumps(meta))
    assert main(["report", str(path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()  # ends like pytest: the answer, then the report's path
    assert out[-1] == f"report: {path / 'report.html'}" and set(out[-2]) == {"="}
    rule = max(i for i, line in enumerate(out) if " verdict " in line)
    assert out[rule + 1:-2] == (path / "verdict.txt").read_text().splitlines()
    assert out[rule + 1].startswith("thermolion paper, paper's protocol: ")
    claims = pd.read_csv(path / "claims.csv").set_index("claim_id")
    row = claims.loc["thermolion-T1-cifar10-thermolion-adam"]
    for setting in ("paper", "fair"):
        assert row[f"{setting}_verdict"] in ("holds", "does not hold", "inconclusive")
        assert row[f"{setting}_test"] == "paired t" and row[f"{setting}_n"] == 3
        assert np.isfinite(row[f"{setting}_p_adj"]) and row[f"{setting}_p_adj"] >= row[f"{setting}_p"]
    summary = pd.read_csv(path / "summary.csv")
    assert {"selection_gap", "range_edge", "n_iid_errors", "test_n_diverged"} <= set(summary.columns)
    ranks = pd.read_csv(path / "ranks.csv")
    assert {"mean_rank", "iqm", "iqm_ci_low", "profile_area"} <= set(ranks.columns) and len(ranks) == 2
    assert len(pd.read_csv(path / "poi_ci.csv")) == 2


def test_timed_out_iid_trials_count_at_chance_like_errors(tmp_path):
    from reports.cells import cell_summary

    path = make_study(tmp_path / "s", tasks=("cifar10",), optimizers=("thermolion",), missing=(), partial=(),
                      error_every=3)
    trials = pd.read_csv(path / "trials.csv")
    errors = trials.index[(trials["phase"] == "tune") & (trials["status"] == "error")]
    trials.loc[errors[::2], "status"] = "timeout"
    trials.to_csv(path / "trials.csv", index=False)
    study = load_study(path)
    rows = study.trials
    row, emp, _ = cell_summary(study, "cifar10", "thermolion", rows)
    tune = rows[rows["phase"] == "tune"]
    iid = tune[tune["iid"].astype(bool)]
    assert (iid["status"] == "timeout").any() and (iid["status"] == "error").any()
    at_chance = np.where(iid["status"].isin(["error", "timeout"]), iid["chance"], iid["value"])
    assert emp.loc[emp["k"] == 1, "expected_max"].iloc[0] == pytest.approx(at_chance.mean())
    assert row["n_iid_errors"] == iid["status"].isin(["error", "timeout"]).sum()


def test_without_a_claim_the_ranking_comes_first_and_the_caveats_are_notes(tmp_path):
    path = make_study(tmp_path / "s", tasks=("digits",), optimizers=("adamw", "lion"), n_trials=4, iid_trials=2,
                      seeds=2, missing=(), partial=(), history=False)
    files = write_report(path, log=lambda msg: None)
    top = files["report.md"].read_text().split("\n## ")[0]
    first = top.split("\n\n")[1]  # the block under the heading
    assert first.startswith("- **Who wins across tasks:**")  # the ranking with its uncertainty
    assert re.search(r"\n- \*\*Per task \(tuned test score, 95% CI\):\*\* digits: \*\*\w+\*\* [\d.]+ \[[\d.]+, [\d.]+\]", first)
    notes = top[top.index("<details><summary>Notes ("):]
    assert "No published claim concerns" in notes and "**Smoke-test budget**" in notes
    assert "No published claim" not in top[:top.index("<details>")]
    assert files["verdict.txt"].read_text().splitlines()[1].startswith("per task (test score, 95% CI): digits: ")


def test_the_quick_preset_judges_its_labelled_demonstration_claim(tmp_path):
    """The default launch names a claims file (the preset's `claims`): its one demonstration claim is
    judged by reports.claims like any other, labelled as a demonstration, first in the report."""
    import shutil

    from reports.user_claims import USER_FILE
    from study.presets import DEMO_CLAIMS
    from study.spec import build_spec

    assert build_spec("quick", None, {}).claims == DEMO_CLAIMS
    assert build_spec("quick", None, {"claims": None}).claims == DEMO_CLAIMS
    path = make_study(tmp_path / "q", tasks=("digits",), optimizers=("adamw", "sgd"), n_trials=4, iid_trials=3,
                      seeds=2, missing=(), partial=(), history=False)
    shutil.copyfile(DEMO_CLAIMS, path / USER_FILE)  # as the launch stores a study's claims file
    files = write_report(path, log=lambda msg: None)
    row = pd.read_csv(path / "claims.csv").set_index("claim_id").loc["demo-digits-adamw-sgd"]
    assert row["paper"] == "demo" and row["fair_n"] == 2 and np.isfinite(row["fair_delta"])
    assert row["fair_verdict"] in ("holds", "does not hold", "inconclusive")  # judged (2 paired seeds)
    top = files["report.md"].read_text().split("<details>")[0]
    assert top.split("\n\n")[1].startswith("- **demonstration claim** (1 claim about this study): Demonstration claim, "
                                           "not from a paper: AdamW beats SGD on digits: **")
    answer = files["verdict.txt"].read_text().splitlines()[0]
    assert answer.startswith("demonstration claim: Demonstration claim, not from a paper: AdamW beats SGD on digits: ")
    assert f"{row['paper_verdict']} under the paper's protocol" in answer
    assert f"{row['fair_verdict']} under the fair protocol (tuned) ({row['fair_delta']:.1f} [" in answer
