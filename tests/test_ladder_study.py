"""The mnist-ladder preset end to end, on a reduced budget: a finished study (tune and paper
phases) extended by the default ladder with `--resume --ladder default` runs only the missing rungs,
and its report has the ladder section, figure, table and the rung in trials.csv / claims.csv."""
from __future__ import annotations

import json

import pandas as pd
import pytest

STUDY = "mnist-ladder"


@pytest.fixture(scope="module")
def extended(tmp_path_factory):
    """(study dir, records before the ladder, study.json after) of a reduced mnist-ladder study:
    2 seeds, 1 tune trial a cell, the paper's 12 epochs cut to 1, 300 fair training images."""
    import ray

    from search_spaces import points
    from study.cli import main

    root = tmp_path_factory.mktemp("ladder")
    config = root / "small.yaml"
    config.write_text("preset: mnist-ladder\ntask_config: {n_train: 300}\nladder: []\n")
    flags = ["--storage", str(root), "--name", STUDY]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STUDY_DATA_DIR", str(root / "data"))
        mp.setattr(points, "THERMOLION_PAPER_EPOCHS", 1)  # the paper's 12 epochs: the same path, 12x the time
        try:
            assert main(["launch", "--config", str(config), "--trials", "1", "--iid-trials", "1", "--seeds", "2",
                         "--paper-seeds", "2", "--phases", "tune,paper", *flags]) == 0
            before = {p: pd.read_csv(root / STUDY / "records" / f"{p}.csv") for p in ("tune", "fixed")}
            assert main(["launch", "--resume", "--ladder", "default", *flags]) == 0
        finally:
            ray.shutdown()
    return root / STUDY, before, json.loads((root / STUDY / "study.json").read_text())


def test_a_finished_study_extended_by_a_ladder_runs_no_phase_twice(extended):
    path, before, state = extended
    for phase, rows in before.items():  # the study's own phases are left as they were
        pd.testing.assert_frame_equal(pd.read_csv(path / "records" / f"{phase}.csv"), rows)
    assert {k: v for k, v in state["phases"].items()} == {"tune": "done", "paper": "done", "tune-lr": "done",
                                                          "ladder-1": "done"}
    rungs = state["ladder"]["trials"]
    paper_ids = set(before["fixed"]["trial_id"])
    # the paper and held-out rungs are the paper phase's runs under its two protocols
    assert set(rungs["paper"]) | set(rungs["held-out"]) == paper_ids
    ran = pd.read_csv(path / "records" / "ladder-1.csv")
    assert not set(ran["trial_id"]) & paper_ids  # none run again
    assert sorted(ran["trial_id"]) == sorted(rungs["lr-tuned"] + rungs["tuned"] + rungs["budget"])
    assert len(pd.read_csv(path / "records" / "tune-lr.csv")) == 2  # one lr-only tune trial per cell
    trials = pd.read_csv(path / "trials.csv").set_index("trial_id")
    for rung, ids in rungs.items():
        assert (trials.loc[ids, "rung"] == rung).all()
    budget = ran[ran["trial_id"].isin(rungs["budget"])]
    assert (budget["epochs_done"] == 2).all()  # twice the (reduced) paper budget


def test_the_ladder_report_has_its_figure_sentence_table_and_columns(extended):
    path, _, state = extended
    report = (path / "report.md").read_text()
    section = report.split("## Which step of the protocol flips each claim?")[1].split("\n## ")[0]
    first = section.strip().splitlines()[0]
    assert "of 1 claim" in first or "No step of the ladder changes a verdict" in first
    assert (path / "figures" / "ladder_1.png").is_file() and "figures/ladder_1.png" in section
    for rung in ("paper", "held-out", "lr-tuned", "tuned", "budget"):
        assert f"**{rung}**" in section  # the method list: each rung's factor and source
    assert "Kaddour et al. 2023" in section and "| claim | paper | held-out | lr-tuned | tuned | budget |" in section
    claims = pd.read_csv(path / "claims.csv").set_index("claim_id")
    row = claims.loc["thermolion-T2-mnist5k-thermolion-adam"]
    assert all(row[f"ladder_{r}_verdict"] in ("holds", "does not hold", "inconclusive") for r in state["ladder"]["trials"])
    ladder = pd.read_csv(path / "ladder.csv")
    assert list(ladder["rung"]) == ["paper", "held-out", "lr-tuned", "tuned", "budget"]
    # each rung's delta is the paired mean difference of that rung's own runs
    trials = pd.read_csv(path / "trials.csv")
    runs = trials[trials["rung"] == "tuned"].pivot(index="seed", columns="optimizer", values="test_score")
    assert ladder.set_index("rung").loc["tuned", "delta"] == pytest.approx((runs["thermolion"] - runs["adam"]).mean())
    assert (path / "tables" / "ladder.tex").is_file()
