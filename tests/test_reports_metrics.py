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


def test_bootstrap_ci_coverage_on_normal_mean():
    rng = np.random.default_rng(0)
    reps, hits = 200, 0
    for i in range(reps):
        _, low, high = metrics.bootstrap_ci(rng.normal(10.0, 2.0, 30), seed=i)
        hits += low <= 10.0 <= high
    assert 0.88 <= hits / reps <= 0.99  # percentile bootstrap, n = 30: nominal 95%, a little under


def test_bootstrap_ci_small_and_degenerate_samples():
    assert np.isnan(metrics.bootstrap_ci([])[0])
    mean, low, high = metrics.bootstrap_ci([3.0, np.nan])
    assert mean == 3.0 and np.isnan(low) and np.isnan(high)
    assert metrics.bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)


def test_diff_and_ratio_ci():
    rng = np.random.default_rng(2)
    a, b = rng.normal(75, 1, 10), rng.normal(70, 1, 10)
    d, low, high = metrics.diff_ci(a, b)
    assert d == pytest.approx(a.mean() - b.mean()) and 0 < low < d < high
    r, low, high = metrics.ratio_ci(a, b)
    assert r == pytest.approx(a.mean() / b.mean()) and low < r < high
    assert np.isnan(metrics.diff_ci([1.0], [2.0, 3.0])[1])


def test_sensitivity_hand_values():
    s = metrics.sensitivity([90.0, 89.5, 86.0, 70.0], best=90.0)
    # sorted 70, 86, 89.5, 90: q1 = 70 + 0.75*16 = 82, q3 = 89.5 + 0.25*0.5 = 89.625
    assert s == {"within_1": 0.5, "within_5": 0.75, "iqr": pytest.approx(7.625)}


def test_prob_improvement_counts_ties_half():
    assert metrics.prob_improvement([1.0, 2.0], [2.0, 3.0]) == pytest.approx(0.125)
    assert metrics.prob_improvement([5.0], [1.0, 2.0]) == 1.0


def _long(cells):
    return pd.DataFrame([(t, o, v) for (t, o), vals in cells.items() for v in vals], columns=["task", "optimizer", "value"])


def test_mean_rank_ci_and_poi_matrix():
    scores = _long({("t1", "A"): [90, 91, 92], ("t1", "B"): [80, 81, 82], ("t1", "C"): [70, 71, 72],
                    ("t2", "A"): [60, 61, 62], ("t2", "B"): [65, 66, 67]})
    ranks = metrics.mean_rank_ci(scores).set_index("optimizer")
    assert ranks.loc["A", "mean_rank"] == 1.5 and ranks.loc["B", "mean_rank"] == 1.5 and ranks.loc["C", "mean_rank"] == 3
    assert ranks.loc["A", "ci_low"] == ranks.loc["A", "ci_high"] == 1.5  # separations far above the seed noise
    assert ranks.loc["C", "n_tasks"] == 1
    single = metrics.mean_rank_ci(_long({("t1", "A"): [1.0], ("t1", "B"): [2.0, 3.0]})).set_index("optimizer")
    assert np.isnan(single.loc["A", "ci_low"]) and single.loc["B", "ci_low"] == 1.0
    poi = metrics.poi_matrix(scores)
    assert poi.loc["A", "B"] == pytest.approx(0.5)  # wins t1 (1.0), loses t2 (0.0)
    assert poi.loc["A", "C"] == 1.0
    assert poi.loc["B", "A"] + poi.loc["A", "B"] == pytest.approx(1.0)


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
