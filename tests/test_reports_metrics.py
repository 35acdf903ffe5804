"""reports.metrics against hand-computed values and known distributions."""
import itertools

import numpy as np
import pandas as pd
import pytest

from reports import metrics


def test_expected_max_hand_values():
    # v = 1, 2, 3 (R = 3): k=1 is the mean; k=2: (1*1 + 2*3 + 3*5)/9; k=3: (1*1 + 2*7 + 3*19)/27
    np.testing.assert_allclose(metrics.expected_max([3.0, 1.0, 2.0]), [2.0, 22 / 9, 72 / 27])
    np.testing.assert_allclose(metrics.expected_max([5.0, 5.0]), [5.0, 5.0])
    np.testing.assert_allclose(metrics.expected_max([4.0]), [4.0])


def test_expected_max_matches_enumeration_of_draws_with_replacement():
    v = np.array([0.3, 7.0, 2.5, 9.1, 4.4])
    curve = metrics.expected_max(v)
    for k in (1, 2, 3):
        brute = np.mean([max(t) for t in itertools.product(v, repeat=k)])
        assert curve[k - 1] == pytest.approx(brute)
    assert np.all(np.diff(curve) >= 0) and curve[-1] < v.max()


def test_expected_max_rejects_nan_and_rows_are_curves():
    with pytest.raises(ValueError, match="NaN"):
        metrics.expected_max([1.0, np.nan])
    rows = metrics.expected_max(np.array([[1.0, 2.0, 3.0], [3.0, 3.0, 3.0]]))
    np.testing.assert_allclose(rows[1], [3.0, 3.0, 3.0])
    np.testing.assert_allclose(rows[0], [2.0, 22 / 9, 72 / 27])


def test_expected_max_band_brackets_curve():
    rng = np.random.default_rng(1)
    scores = rng.normal(50, 10, 30)
    curve, low, high = metrics.expected_max_band(scores, n_resamples=500)
    assert curve.shape == low.shape == high.shape == (30,)
    assert np.all(low <= curve + 1e-9) and np.all(curve <= high + 1e-9)
    assert np.all(high - low > 0)
    curve, low, high = metrics.expected_max_band([np.nan])
    assert curve.size == 0


def test_sensitivity_hand_values():
    s = metrics.sensitivity([90.0, 89.5, 86.0, 70.0], best=90.0)
    # sorted 70, 86, 89.5, 90: q1 = 70 + 0.75*16 = 82, q3 = 89.5 + 0.25*0.5 = 89.625
    assert s == {"within_1": 0.5, "within_5": 0.75, "iqr": pytest.approx(7.625)}


def _long(cells):
    return pd.DataFrame([(t, o, v) for (t, o), vals in cells.items() for v in vals], columns=["task", "optimizer", "value"])


def test_aggregates_use_common_tasks_and_normalized_scores():
    from reports.aggregates import aggregate

    scores = _long({("t1", "A"): [90, 91, 92], ("t1", "B"): [80, 81, 82], ("t1", "C"): [70, 71, 72],
                    ("t2", "A"): [60, 61, 62], ("t2", "B"): [65, 66, 67], ("t3", "A"): [50.0]}).assign(chance=10.0)
    table, poi, poi_ci, normalized, note = aggregate(scores, n_resamples=300)
    # C ran t1 only, so no task is common to all three: C (fewest tasks) is left out; t3 lacks B
    assert "left out" in note and "C" in note and set(table["optimizer"]) == {"A", "B"} and (table["n_tasks"] == 2).all()
    t = table.set_index("optimizer")
    assert t.loc["A", "mean_rank"] == 1.5 == t.loc["B", "mean_rank"]
    assert (t.loc["A", "ci_low"], t.loc["A", "ci_high"]) == (1.0, 2.0)  # resampling the two tasks
    # normalized: t1 best 91 -> A (x - 10)/81, t2 best 66 -> A (x - 10)/56; IQM of A's 6 runs trims 1 at each end
    a_runs = np.sort(np.r_[(np.array([90, 91, 92]) - 10) / 81, (np.array([60, 61, 62]) - 10) / 56])
    assert t.loc["A", "iqm"] == pytest.approx(a_runs[1:5].mean())
    assert normalized[(normalized["task"] == "t1") & (normalized["optimizer"] == "A")]["value"].mean() == pytest.approx(1.0)
    assert poi.loc["A", "B"] == pytest.approx(0.5)  # wins t1 (1.0), loses t2 (0.0)
    row = poi_ci[(poi_ci["a"] == "A") & (poi_ci["b"] == "B")].iloc[0]
    assert row["ci_low"] == 0.0 and row["ci_high"] == 1.0
    # profile area, tau_max 0.25: A's gap 0 on t1, (66-61)/56 on t2
    assert t.loc["A", "profile_area"] == pytest.approx((1 + max(0, 1 - 5 / 56 / 0.25)) / 2)


def test_performance_profile_hand_values():
    scores = _long({("t1", "A"): [90], ("t1", "B"): [85], ("t2", "A"): [70], ("t2", "B"): [72]})
    prof = metrics.performance_profile(scores, n_tau=201)
    at = lambda opt, tau: prof[(prof["optimizer"] == opt) & (prof["tau"] <= tau)]["share"].iloc[-1]  # noqa: E731
    assert at("A", 0) == 0.5 and at("B", 0) == 0.5
    assert at("A", 2.0) == 1.0 and at("B", 4.9) == 0.5 and at("B", 5.0) == 1.0


def test_param_importances_find_the_hyperparameter_that_matters():
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    from reports.importance import infer_distribution, param_importances

    rng = np.random.default_rng(3)
    n = 60
    rows = pd.DataFrame({"hp_lr": 10 ** rng.uniform(-5, -1, n), "hp_weight_decay": rng.uniform(0, 0.1, n),
                         "hp_groups": rng.choice(["layer", "tensor"], n), "hp_beta1": 0.9})
    rows["value"] = 90 - 10 * (np.log10(rows["hp_lr"]) + 3) ** 2 + rng.normal(0, 0.1, n)
    imp = param_importances(rows)
    assert set(imp) == {"lr", "weight_decay", "groups"}  # the constant beta1 is no hyperparameter here
    assert max(imp, key=imp.get) == "lr" and imp["lr"] > 0.5
    assert infer_distribution(rows["hp_lr"]) == FloatDistribution(rows["hp_lr"].min(), rows["hp_lr"].max(), log=True)
    assert infer_distribution(pd.Series([32, 64, 32, 128])) == CategoricalDistribution([32, 64, 128])
    assert param_importances(rows.head(5)) == {}


def test_theorem_42_limit():
    from reports.figures.diagnostics import theorem_42 as _theorem_42

    trials = pd.DataFrame({"trial_id": ["a", "b"], "hp_lr": [0.01, 0.01], "hp_weight_decay": [0.1, 0.0]})
    sizes = pd.DataFrame({"trial_id": ["a", "b"], "optimizer": "sepnorm", "series": ["0", "1"], "value": [100.0, 100.0]})
    pred = _theorem_42(trials, sizes)
    # 0.01 * sqrt(100) / sqrt(2 * 0.01 * 0.1 - (0.01 * 0.1)^2); no weight decay: no limit
    assert pred[("sepnorm", "0")] == pytest.approx(0.1 / np.sqrt(0.002 - 1e-6))
    assert ("sepnorm", "1") not in pred.index


def test_range_edges_flag_a_best_value_at_the_searched_bounds():
    from reports.cells import range_edges

    rng = np.random.default_rng(0)
    tune = pd.DataFrame({"hp_lr": 10 ** rng.uniform(-5, -1, 40), "hp_beta1": rng.uniform(0.8, 0.95, 40),
                         "hp_batch_size": rng.choice([32, 64], 40)})
    best = pd.Series({"hp_lr": tune["hp_lr"].max(), "hp_beta1": np.median(tune["hp_beta1"]), "hp_batch_size": 64})
    assert range_edges(tune, best) == "lr (high)"  # log range; a 2-value choice is never an edge
    best["hp_beta1"] = tune["hp_beta1"].min() + 0.001
    assert range_edges(tune, best) == "lr (high), beta1 (low)"
