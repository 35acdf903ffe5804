"""reports.stats: hand-computed cases and a calibration on simulated studies with known truth."""
import numpy as np
import pytest
from scipy import stats as sps

from calibration_sim import bounded_coverage, simulate
from reports import stats


@pytest.mark.parametrize("seeds", [3, 5])
def test_calibration_coverage_false_verdicts_and_power(seeds):
    null = simulate(seeds, reps=1500, gap=0.0, seed=seeds)
    assert 0.93 <= null["coverage"] <= 0.97  # 198,000 intervals: Monte Carlo SE ~0.0005
    assert null["bh_decided"] <= 0.05 and null["holm_decided"] <= 0.05  # identical optimizers: verdicts are false
    assert null["bh_family"] <= 0.08  # any false verdict in a 120-claim study (nominal 0.05, SE ~0.006)
    assert 0.04 <= null["raw_decided"] <= 0.06  # unadjusted paired t is exact: the test can tell a wrong p
    if seeds == 5:
        alt = simulate(seeds, reps=500, gap=3.0, seed=7)
        assert alt["bh_decided"] >= 0.85  # a 3 SD gap at 5 seeds is found most of the time
        mixed = simulate(seeds, reps=500, gap=3.0, seed=8, null_share=0.5)  # half the claims true, half null
        assert mixed["bh_fdr"] <= 0.05 and mixed["bh_power"] >= 0.6


def test_t_interval_hand_values_and_small_samples():
    mean, low, high = stats.t_interval([1.0, 2.0, 3.0])  # s = 1, se = 1/sqrt(3), t(0.975, 2) = 4.302653
    assert mean == 2.0 and high - mean == pytest.approx(4.302653 / np.sqrt(3), rel=1e-6) and low == pytest.approx(4 - high)
    mean, low, high = stats.t_interval(np.array([[4.0, np.nan], [np.nan, np.nan], [2.0, 2.0]]))
    assert mean[0] == 4.0 and np.isnan(low[0]) and np.isnan(mean[1]) and low[2] == high[2] == 2.0


def test_bounded_t_interval_stays_in_the_range_and_keeps_its_coverage():
    mean, low, high = stats.t_interval([86.1 - 3.54, 86.1 + 3.54], bounds=(0.0, 100.0))  # the 86.1 [54.3, 117.9]
    assert mean == pytest.approx(86.1) and low == pytest.approx(86.1 - 12.706205 * 3.54, rel=1e-5) and high == 100.0
    assert stats.t_interval([-99.0, -60.0], bounds=(-100.0, 100.0))[1] == -100.0  # MCC's range is -100..100
    for seeds in (2, 3, 5):  # the presets' seed counts; skewed scores two SDs under the ceiling
        b = bounded_coverage(seeds, reps=40_000, mean=98.0, sd=1.0, seed=seeds)
        assert b["inside"] == 1.0 and b["coverage"] >= 0.925  # benchmark (200k cells): >= 0.932; MC SE here ~0.0012
    assert bounded_coverage(2, reps=40_000)["past_100"] > 0.5  # the uncut interval leaves the range most of the time


def test_paired_t_hand_values():
    # d = (1, 2, 2): mean 5/3, s = sqrt(1/3), se = 1/3, t = 5, df = 2, p = 2 * sf(5, 2)
    est, low, high, p, se, df = stats.paired_t(np.array([1.0, 2.0, 3.0]) - np.array([0.0, 0.0, 1.0]))
    assert est == pytest.approx(5 / 3) and se == pytest.approx(1 / 3) and df == 2
    assert p == pytest.approx(2 * sps.t.sf(5.0, 2)) == pytest.approx(0.0377495, rel=1e-5)
    assert high - est == pytest.approx(4.302653 / 3, rel=1e-6)
    assert np.isnan(stats.paired_t(np.array([2.0, 2.0]))[3]) and stats.paired_t(np.zeros(3))[3] == 1.0


def test_welch_t_matches_scipy_and_hand_df():
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 4.0, 9.0])
    est, low, high, p, se, df = stats.welch_t(a, b)
    va, vb = 5 / 3 / 4, 13 / 3  # var/n: 1.6667/4 and 13/3
    assert se == pytest.approx(np.sqrt(va + vb)) and df == pytest.approx((va + vb) ** 2 / (va**2 / 3 + vb**2 / 2))
    assert est == -2.5 and p == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)
    assert np.isnan(stats.welch_t(a, b[:1])[3])


def test_holm_and_bh_hand_values():
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 (m = 4): Holm 4*.005, 3*.01, 2*.03 (= .06), max(.06, 1*.04)
    np.testing.assert_allclose(stats.holm(p), [0.03, 0.06, 0.06, np.nan, 0.02])
    # BH: m p / rank = .02, .02, .04, .04, then running minimum from the top
    np.testing.assert_allclose(stats.benjamini_hochberg(p), [0.02, 0.04, 0.04, np.nan, 0.02])
    np.testing.assert_allclose(stats.holm(np.array([[0.5, 0.9], [0.01, 0.02]])), [[1.0, 1.0], [0.02, 0.02]])


def test_tost_hand_value_and_direction():
    # est 0.1, se 0.2, df 4, margin 1: p = max(sf(5.5, 4), cdf(-4.5, 4)) = sf(4.5, 4)
    assert stats.tost(0.1, 0.2, 4, 1.0) == pytest.approx(sps.t.sf(4.5, 4))
    assert stats.tost(0.9, 0.2, 4, 1.0) > 0.3  # near the margin: not shown equivalent


def test_power_and_seeds_needed():
    # paired, delta = sd: power at n = 10 from the noncentral t (ncp = sqrt(10), df = 9)
    q = sps.t.ppf(0.975, 9)
    assert stats.power_t(1.0, 1.0, 10) == pytest.approx(sps.nct.sf(q, 9, np.sqrt(10)) + sps.nct.cdf(-q, 9, np.sqrt(10)))
    n = stats.seeds_needed(1.0, 1.0)
    assert stats.power_t(1.0, 1.0, n) >= 0.8 > stats.power_t(1.0, 1.0, n - 1) and n == 10
    assert np.isnan(stats.seeds_needed(0.0, 1.0)) and stats.seeds_needed(1e-4, 10.0) == np.inf


def test_iqm_matches_scipy_trim_mean_and_skips_nan():
    x = np.array([1, 2, 3, 4, 5, 6, 7, 100.0])
    assert stats.iqm(x) == pytest.approx(sps.trim_mean(x, 0.25)) == 4.5
    assert stats.iqm(np.array([[1.0, 2.0, 3.0, np.nan], [np.nan] * 4]))[0] == 2.0


def test_stratified_bootstrap_rank_ci_hand_case():
    # A wins task 1, B wins task 2, no seed noise: resampling the two tasks gives A's mean rank
    # 1 (t1 twice, p 1/4), 1.5 (p 1/2) or 2 (p 1/4), so its 95% interval is [1, 2]
    cells = np.array([[[2.0, 2.0], [1.0, 1.0]], [[1.0, 1.0], [2.0, 2.0]]])
    runs = stats.stratified_resample(cells, np.full((2, 2), 2), 4000, np.random.default_rng(0))
    ranks = stats.mean_ranks(np.nanmean(runs, axis=-1))
    assert set(np.unique(ranks[:, 0])) == {1.0, 1.5, 2.0} and np.mean(ranks[:, 0] == 1.5) == pytest.approx(0.5, abs=0.03)
    low, high = stats.percentile_ci(ranks)
    assert (low[0], high[0]) == (1.0, 2.0)
    fixed = stats.stratified_resample(cells, np.full((2, 2), 2), 50, np.random.default_rng(0), tasks=False)
    assert np.all(stats.mean_ranks(np.nanmean(fixed, axis=-1)) == 1.5)  # seeds only: no spread here


def test_stratified_resample_keeps_each_cells_runs():
    cells = np.array([[[1.0, 2.0, np.nan], [5.0, 6.0, 7.0]]])
    runs = stats.stratified_resample(cells, np.array([[2, 3]]), 200, np.random.default_rng(1))
    assert set(np.unique(runs[:, 0, 0, :2])) == {1.0, 2.0} and np.isnan(runs[:, 0, 0, 2]).all()
    assert set(np.unique(runs[:, 0, 1])) == {5.0, 6.0, 7.0}


def test_prob_improvement_and_profile_area_hand_values():
    runs = np.array([[[1.0, 2.0, np.nan], [3.0, 4.0, 5.0]], [[5.0, 6.0, 7.0], [0.0, np.nan, np.nan]]])
    poi = stats.prob_improvement(runs)  # task 1: A never beats B; task 2: always
    np.testing.assert_allclose(poi, [[0.5, 0.5], [0.5, 0.5]])
    assert stats.prob_improvement(np.array([[[1.0, 2.0], [2.0, 3.0]]]))[0, 1] == pytest.approx(0.125)  # ties count half
    # gaps: task 1 (0, 0.1), task 2 (0.2, 0): area = mean(max(0, 1 - g/0.25))
    np.testing.assert_allclose(stats.profile_area(np.array([[1.0, 0.9], [0.8, 1.0]]), 0.25), [0.6, 0.8])


def test_no_spread_is_no_test_unless_the_runs_are_equal():
    assert np.isnan(stats.paired_t([0.02, 0.02])[3])  # the same nonzero difference twice: no p
    assert stats.paired_t([0.0, 0.0])[3] == 1.0  # equal on every seed: no difference
    assert np.isnan(stats.welch_t([1.0, 1.0], [2.0, 2.0])[3])
    assert stats.tost(0.0, 0.0, 2.0, 1.0) == 0.0 and np.isnan(stats.tost(0.5, 0.0, 2.0, 1.0))


def test_roundoff_spread_is_no_spread_in_paired_welch_and_tost():
    """Review finding 1: two seeds with the same 0.2-point difference, scored as the vision runner scores
    (100 * correct / 1000), differ only by float roundoff; that is no spread (no test), not p ~ 1e-14."""
    acc = lambda k: 100 * (np.asarray(k) / 1000)
    d = acc([960, 964]) - acc([958, 962])
    assert d[0] != d[1]  # 0.20000000000000284 and 0.19999999999998863
    assert np.isnan(stats.paired_t(d)[3])
    assert stats.paired_t(acc([960, 964]) - acc([960, 964]))[3] == 1.0
    assert np.isnan(stats.welch_t(acc([960, 960]) + 1e-13, acc([958, 958]))[3])
    est, _, _, _, se, df = stats.paired_t(d)
    assert np.isnan(stats.tost(est, se, df, 1.0)) and stats.tost(1e-15, 1e-15, 1.0, 1.0) == 0.0
    # genuinely different seeds keep their test
    assert stats.paired_t(np.array([0.2, 0.2 + 1e-6]))[3] < 1e-5


def test_bounded_interval_contains_its_mean_even_when_the_range_is_wrong():
    """Review finding 10: scores outside the range (an MCC task whose range was inferred as 0-100) were cut to an
    interval that missed their own mean: [104, 106] gave 105 [92.3, 100]."""
    mean, low, high = stats.t_interval(np.array([[104.0, 106.0], [-5.0, -3.0], [99.9, 97.0]]), bounds=(0.0, 100.0))
    assert np.all((low <= mean) & (mean <= high)) and high[2] == 100.0 and low[1] < -4
