"""The papers' published numbers (reports/data) and the claim checks built on them."""
import numpy as np
import pandas as pd
import pytest

from reports import claims
from reports.load import normalize_trials
from study.tasks import parse_task

OUR_OPTIMIZERS = {"thermolion", "adamw", "adam", "lion", "rmsprop", "swats", "lookahead", "swa", "muadam_paper",
                  "sepnorm", "ortsepnorm"}


@pytest.fixture(scope="module")
def pub():
    return claims.published()


def test_published_tables_are_complete_and_use_our_names(pub):
    sizes = pub.groupby(["paper", "table"]).size().to_dict()
    assert sizes == {("thermolion", 1): 40, ("thermolion", 2): 21, ("thermolion", 3): 18, ("sepnorm", 3): 48}
    assert set(pub["optimizer"]) <= OUR_OPTIMIZERS
    for task in pub["task"].unique():
        parse_task(task)  # every task name is one the study accepts
    assert not pub.duplicated(["paper", "table", "task", "optimizer", "metric"]).any()


@pytest.mark.parametrize("paper,table,task,opt,metric,value,std", [
    ("thermolion", 1, "gtsrb", "thermolion", "train_acc", 87.98, np.nan),
    ("thermolion", 1, "cifar100", "adam", "train_acc", 29.54, np.nan),
    ("thermolion", 1, "svhn", "muadam_paper", "train_acc", 19.50, np.nan),
    ("thermolion", 2, "qmnist", "muadam_paper", "train_acc", 100.0, np.nan),
    ("thermolion", 3, "stl10", "thermolion", "wall_time_s", 31.27, np.nan),
    ("sepnorm", 3, "glue-cola", "sepnorm", "mcc", 61.8, 1.1),
    ("sepnorm", 3, "glue-mrpc", "ortsepnorm", "acc", 91.9, 0.6),
    ("sepnorm", 3, "glue-mnli", "lion", "acc_mm", 87.1, 0.1),
])
def test_published_spot_values(pub, paper, table, task, opt, metric, value, std):
    row = pub[(pub["paper"] == paper) & (pub["table"] == table) & (pub["task"] == task) & (pub["optimizer"] == opt)
              & (pub["metric"] == metric)]
    assert len(row) == 1 and row["value"].iloc[0] == value
    assert np.isnan(std) and np.isnan(row["std"].iloc[0]) or row["std"].iloc[0] == std


def test_curated_claims_cite_the_papers_and_carry_the_published_numbers(pub):
    c = claims.curated_claims(pub)
    counts = c.groupby(["paper", "kind"]).size().to_dict()
    assert counts == {("thermolion", "beats"): 48, ("thermolion", "time"): 3, ("thermolion", "all"): 4,
                      ("sepnorm", "beats"): 12, ("sepnorm", "similar"): 3, ("sepnorm", "all"): 1}
    assert c["claim_id"].is_unique and c["source"].str.len().gt(0).all() and c["claim"].str.len().gt(0).all()
    pairs = set(zip(c["optimizer"], c["baseline"], c["task"]))
    assert ("thermolion", "muadam_paper", "qmnist") not in pairs  # the paper's own table puts MuAdam above
    assert ("ortsepnorm", "lion", "glue-sst2") in pairs and ("sepnorm", "adamw", "glue-sst2") not in pairs  # "similar" only
    row = c.set_index("claim_id").loc["sepnorm-T3-glue-stsb-ortsepnorm-lion"]
    assert (row["pub_value"], row["pub_baseline"]) == (91.2, 90.7) and row["pub_delta"] == pytest.approx(0.5)
    timing = c.set_index("claim_id").loc["thermolion-T3-stl10-thermolion-adam"]
    assert timing["pub_delta"] == pytest.approx(31.27 / 30.75) and timing["margin"] == 0.05
    mm = c.set_index("claim_id").loc["sepnorm-T3-glue-mnli-acc_mm-sepnorm~lion"]
    assert not mm["measured"] and mm["margin"] == 1.0  # MNLI-mm accuracy is not our score


@pytest.mark.parametrize("kind,est,p_adj,null,expected", [
    ("beats", 1.0, 0.01, 0.0, "holds"),
    ("beats", -1.0, 0.01, 0.0, "does not hold"),
    ("beats", 1.0, 0.2, 0.0, "inconclusive"),
    ("beats", np.nan, np.nan, 0.0, "not run"),
    ("time", np.log(1.01), 0.01, np.log(1.05), "holds"),
    ("time", np.log(1.10), 0.01, np.log(1.05), "does not hold"),
    ("similar", 0.2, 0.01, 1.0, "holds"),
    ("similar", 2.0, 0.01, 1.0, "does not hold"),
])
def test_verdict_rule(kind, est, p_adj, null, expected):
    assert claims.decide(kind, est, p_adj, null) == expected


def _runs(phase, protocol, opt, scores, tests, time_per_step=0.01, task="cifar10"):
    return [{"trial_id": f"{phase}-{protocol}-{opt}-{i}", "phase": phase, "task": task, "optimizer": opt, "protocol": protocol,
             "seed": i, "status": "ok", "score": s, "test_score": t, "chance": 10.0, "time_per_step": time_per_step}
            for i, (s, t) in enumerate(zip(scores, tests))]


def test_check_claims_under_both_settings():
    rows = (_runs("paper", "paper", "thermolion", [80, 81, 82], [50, 50, 50], 0.0101)
            + _runs("paper", "paper", "adam", [60, 61, 62.5], [50, 50, 50], 0.0100)
            + _runs("confirm", "fair", "thermolion", [0, 0, 0], [70, 71, 72])
            + _runs("confirm", "fair", "adam", [0, 0, 0], [74, 75, 76.5])
            + _runs("paper", "paper", "adamw", [70], [50])
            + _runs("confirm", "fair", "adamw", [0, 0, 0], [70, 72, 71]))
    rows[-1]["status"] = "diverged"  # counts at chance (10), never dropped
    for r in rows:
        r["time_per_step"] *= 1 + 0.001 * r["seed"]  # a little spread in time
        if r["optimizer"] == "thermolion":  # and in the time ratio (a constant ratio is no spread, no test)
            r["time_per_step"] *= np.exp(0.001 * (r["seed"] - 1))
    res = claims.check_claims(normalize_trials(pd.DataFrame(rows))).set_index("claim_id")
    adam = res.loc["thermolion-T1-cifar10-thermolion-adam"]
    # paired over seeds 0-2: d = (20, 20, 19.5): mean 19.833, sd 0.2887, t = 119, p tiny
    assert adam["paper_test"] == "paired t" and adam["paper_delta"] == pytest.approx(59.5 / 3) and adam["paper_protocol"] == "paper"
    assert adam["paper_verdict"] == "holds" and adam["paper_ci_high"] - adam["paper_delta"] == pytest.approx(4.302653 * 0.288675 / np.sqrt(3), rel=1e-5)
    assert adam["fair_verdict"] == "does not hold" and adam["fair_delta"] == pytest.approx(-12.5 / 3)
    adamw = res.loc["thermolion-T1-cifar10-thermolion-adamw"]
    assert adamw["paper_verdict"] == "inconclusive" and adamw["paper_n"] == 1 and "fewer than 2" in adamw["paper_note"]
    assert adamw["fair_ours_baseline"] == pytest.approx((70 + 72 + 10) / 3)  # the diverged run at chance
    assert res.loc["thermolion-T1-cifar10-thermolion-lion", "fair_verdict"] == "not run"
    assert res.loc["thermolion-T1-gtsrb-thermolion-adam", "paper_verdict"] == "not run"
    timing = res.loc["thermolion-T3-cifar10-thermolion-adam"]
    assert timing["paper_delta"] == pytest.approx(1.01) and timing["paper_verdict"] == "holds"
    assert res.loc["thermolion-T1-all", "paper_verdict"] == "inconclusive"  # 2 hold, 1 inconclusive, the rest not run
    assert res.loc["thermolion-T1-all", "fair_verdict"] == "does not hold"
    assert res.loc["sepnorm-T3-all", "fair_verdict"] == "not run"


def test_inconclusive_claim_says_how_many_seeds_would_resolve_it():
    rows = (_runs("confirm", "fair", "sepnorm", [0] * 3, [60.0, 61.0, 62.0], task="glue-cola")
            + _runs("confirm", "fair", "adamw", [0] * 3, [60.5, 60.0, 62.5], task="glue-cola"))
    res = claims.claim_verdicts(normalize_trials(pd.DataFrame(rows)), "fair").set_index("claim_id")
    row = res.loc["sepnorm-T3-glue-cola-sepnorm-adamw"]
    assert row["verdict"] == "inconclusive" and row["test"] == "paired t"
    # published gap 61.8 - 61.5 = 0.3; differences (-0.5, 1, -0.5): sd sqrt(0.75); one test, level 0.05
    from reports import stats
    assert row["seeds_needed"] == stats.seeds_needed(0.3, np.sqrt(0.75)) > 3


def test_unpaired_seeds_fall_back_to_welch_and_time_needs_a_common_batch_size():
    a = _runs("confirm", "fair", "thermolion", [0] * 3, [70.0, 71.0, 72.0], 0.01)
    b = _runs("confirm", "fair", "adam", [0] * 3, [60.0, 61.0, 63.0], 0.01)
    for r in b:
        r["seed"] += 10
    for r, size in zip(a + b, [32, 32, 32, 64, 64, 64]):
        r["hp_batch_size"] = size
    res = claims.claim_verdicts(normalize_trials(pd.DataFrame(a + b)), "fair").set_index("claim_id")
    row = res.loc["thermolion-T1-cifar10-thermolion-adam"]
    assert row["test"] == "Welch t" and row["n_a"] == row["n_b"] == 3
    timing = res.loc["thermolion-T3-cifar10-thermolion-adam"]
    assert timing["verdict"] == "not run" and timing["note"] == "no runs at a common batch size"


def test_notes_name_the_known_protocol_issues(pub):
    c = claims.curated_claims(pub)
    notes = " ".join(claims.notes_for(c[c["paper"] == "thermolion"]))
    assert "training data" in notes and "60 steps" in notes and "Adam variant" in notes and "SWATS" in notes
    assert claims.notes_for(c[(c["paper"] == "sepnorm")]) == claims.PROTOCOL_NOTES["sepnorm"]


def test_time_claim_tolerance_is_applied_once():
    # ratio 1.049: within 5% (holds); a tolerance of log(1 + log(1.05)) ~ 4.9% would call it "does not hold"
    rows = (_runs("paper", "paper", "thermolion", [80.0] * 3, [50.0] * 3, 0.01049)
            + _runs("paper", "paper", "adam", [60.0] * 3, [50.0] * 3, 0.01))
    for r in rows:
        r["time_per_step"] *= 1 + 0.01 * r["seed"]  # the same per-seed factor on both sides: paired
        r["time_per_step"] *= 1 + 1e-5 * r["seed"] * (r["optimizer"] == "thermolion")  # a little spread to test
    res = claims.claim_verdicts(normalize_trials(pd.DataFrame(rows)), "paper").set_index("claim_id")
    timing = res.loc["thermolion-T3-cifar10-thermolion-adam"]
    assert timing["delta"] == pytest.approx(1.049, rel=1e-4) and timing["verdict"] == "holds"


def _similar(diffs, base=60.0):
    """Paired runs for the SepNorm GLUE-QNLI "similar" claim (sepnorm ~ lion, margin 1)."""
    return (_runs("confirm", "fair", "sepnorm", [0] * len(diffs), [base + d for d in diffs], task="glue-qnli")
            + _runs("confirm", "fair", "lion", [0] * len(diffs), [base] * len(diffs), task="glue-qnli"))


def _similar_row(rows):
    res = claims.claim_verdicts(normalize_trials(pd.DataFrame(rows)), "fair").set_index("claim_id")
    return res.loc["sepnorm-T3-glue-qnli-acc-sepnorm~lion"]


def test_similar_claims_show_the_tost_interval_and_paired_seeds_needed():
    from scipy import stats as sps

    from reports import stats

    diffs = [0.2, 0.9, -0.5, 0.3]
    row = _similar_row(_similar(diffs))
    assert row["test"].startswith("TOST") and "paired t" in row["test"] and "90% CI" in row["test"]
    se = np.std(diffs, ddof=1) / 2
    assert row["ci_high"] - row["delta"] == pytest.approx(sps.t.ppf(0.95, 3) * se)  # 90%: inside +-1 iff TOST holds
    assert (row["verdict"] == "holds") == (row["ci_low"] > -1 and row["ci_high"] < 1)
    wide = _similar_row(_similar([1.5, -1.4, 0.9]))
    assert wide["verdict"] == "inconclusive"
    gap = claims.curated_claims().set_index("claim_id").loc[wide.name, "pub_delta"]
    level = stats.ALPHA / int(np.isfinite(wide["p"]))
    expected = stats.seeds_needed(max(1 - abs(gap), 0.0), np.std([1.5, -1.4, 0.9], ddof=1), 2 * level, paired=True)
    assert wide["seeds_needed"] == expected  # the paired formula (the unpaired one needs about twice as many)


def test_similar_claim_rejects_at_most_alpha_when_the_difference_is_the_margin():
    """At a true difference of exactly the margin, "does not hold" may be said at most 5% of the
    time (the outside test is two-sided: one-sided p's on whichever side gave up to 2 alpha)."""
    rng = np.random.default_rng(0)
    n, reps, margin = 3, 100_000, 1.0
    for sd in (1.0, 6.0):
        d = margin + sd * rng.standard_normal((reps, n))
        est, se = d.mean(axis=1), d.std(axis=1, ddof=1) / np.sqrt(n)
        p = claims.similar_p(est, se, np.full(reps, n - 1.0), margin)
        verdict = claims.decide("similar", est, p, margin)
        assert (verdict == "does not hold").mean() < 0.053, sd


def test_the_same_difference_on_every_seed_is_not_a_verdict():
    """Scores on a coarse grid (train accuracy in steps of 0.02 near 100%) can differ by the same
    amount on both seeds: no spread is no test, not p = 0."""
    rows = (_runs("paper", "paper", "thermolion", [100.0, 100.0], [50, 50])
            + _runs("paper", "paper", "adam", [99.98, 99.98], [50, 50]))
    row = claims.claim_verdicts(normalize_trials(pd.DataFrame(rows)), "paper").set_index("claim_id").loc[
        "thermolion-T1-cifar10-thermolion-adam"]
    assert row["verdict"] == "inconclusive" and "no spread" in row["note"] and np.isnan(row["seeds_needed"])
    identical = _similar_row(_similar([0.0, 0.0, 0.0]))
    assert identical["verdict"] == "holds"  # the same result on every seed: equal


def test_a_stand_in_task_counts_once_in_an_all_claim():
    rows = []
    for task in ["mnist5k"] + [t for t in claims.curated_claims().query("kind == 'beats' and paper == 'thermolion' "
                                                                         "and baseline == 'adam'")["task"].unique()
                               if t != "mnist"]:
        rows += _runs("paper", "paper", "thermolion", [80.0, 81.0, 82.5], [50] * 3, task=task)
        rows += _runs("paper", "paper", "adam", [60.0, 61.0, 62.0], [50] * 3, task=task)
    trials = normalize_trials(pd.DataFrame(rows))
    res = claims.claim_verdicts(trials, "paper", claims.alias_claims(claims.curated_claims(), ["mnist5k"]))
    row = res.set_index("claim_id").loc["thermolion-all12-adam"]
    assert row["n"] == 12 and row["verdict"] == "holds", row["note"]  # mnist counted once, by its stand-in


def test_a_claims_interval_stays_inside_the_range_of_a_score_difference():
    """Two seeds far apart: the t interval (t(1) = 12.7) would reach +-400 points; a difference of
    two 0-100 scores lies in [-100, 100] (a correlation's in [-200, 200]), and so does its interval."""
    rows = (_runs("confirm", "fair", "thermolion", [0] * 2, [90.0, 20.0]) + _runs("confirm", "fair", "adam", [0] * 2, [10.0, 10.0])
            + _runs("confirm", "fair", "sepnorm", [0] * 2, [90.0, 20.0], task="glue-cola")
            + _runs("confirm", "fair", "adamw", [0] * 2, [-80.0, -80.0], task="glue-cola"))
    trials = normalize_trials(pd.DataFrame(rows))
    trials["chance"] = np.where(trials["task"] == "glue-cola", 0.0, 10.0)
    res = claims.claim_verdicts(trials, "fair").set_index("claim_id")
    acc = res.loc["thermolion-T1-cifar10-thermolion-adam"]
    assert acc["delta"] == pytest.approx(45.0) and (acc["ci_low"], acc["ci_high"]) == (-100.0, 100.0)
    assert (acc["unpaired_ci_low"], acc["unpaired_ci_high"]) == (-100.0, 100.0)
    mcc = res.loc["sepnorm-T3-glue-cola-sepnorm-adamw"]
    assert mcc["delta"] == pytest.approx(135.0) and mcc["ci_low"] < 0 and mcc["ci_high"] == 200.0
