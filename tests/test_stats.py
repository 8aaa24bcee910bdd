"""xpm_bench.stats: IQM against closed forms and scipy, bootstrap coverage and stratification,
log-log fits on exact and noisy power laws."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import trim_mean

from xpm_bench import stats


def test_iqm_of_hand_made_arrays():
    assert stats.interquartile_mean([1, 2, 3, 4]) == 2.5
    assert stats.interquartile_mean([7, 1, 100, 3, 4, 5, 6, 2]) == 4.5  # middle: 3, 4, 5, 6
    # n = 3: the quartiles fall at 0.75 and 2.25 samples, so the outer samples weigh 1/4 each
    assert stats.interquartile_mean([0, 1, 10]) == pytest.approx((0.25 * 0 + 1 + 0.25 * 10) / 1.5)
    assert stats.interquartile_mean([5.0]) == 5.0
    assert np.isnan(stats.interquartile_mean([]))


@pytest.mark.parametrize("n", [4, 8, 12, 40])
def test_iqm_equals_trim_mean_when_n_is_a_multiple_of_4(n):
    x = np.random.default_rng(n).standard_cauchy(n)
    assert stats.interquartile_mean(x) == pytest.approx(trim_mean(x, 0.25))


def test_iqm_is_the_integral_of_the_quantile_function():
    x = np.random.default_rng(0).exponential(size=7)
    # the empirical quantile function is a step function: integrate it on a fine grid
    u = (np.arange(1_000_000) + 0.5) / 1_000_000
    q = np.sort(x)[np.floor(u * x.size).astype(int)]
    middle = (u >= 0.25) & (u < 0.75)
    assert stats.interquartile_mean(x) == pytest.approx(q[middle].mean(), abs=1e-5)


def test_iqm_interval_covers_the_true_iqm_at_its_nominal_rate():
    # Normal(0, 1) is symmetric, so its IQM is 0; a 90% interval should cover 0 ~90% of the time
    rng = np.random.default_rng(1)
    trials = 100
    covered = 0
    for t in range(trials):
        ci = stats.iqm_ci([rng.normal(size=40)], n_boot=200, seed=t, alpha=0.1)
        covered += ci.low <= 0.0 <= ci.high
        assert ci.low <= ci.estimate <= ci.high
    assert 0.80 <= covered / trials <= 0.98


def test_stratified_bootstrap_keeps_each_stratum_s_run_count():
    # strata of constant values: any within-stratum redraw leaves the pooled mean unchanged
    strata = [np.zeros(3), np.full(5, 100.0)]
    ci = stats.stratified_bootstrap_ci(strata, lambda a: np.concatenate(a).mean(), n_boot=300)
    assert ci.low == ci.high == ci.estimate == pytest.approx(62.5)
    # the same runs pooled into one stratum: the share of each value varies between replicates
    pooled = stats.stratified_bootstrap_ci(
        [np.concatenate(strata)], lambda a: np.concatenate(a).mean(), n_boot=300
    )
    assert pooled.high - pooled.low > 10


def test_stratified_interval_covers_the_mean_of_unequal_strata():
    rng = np.random.default_rng(2)
    truth = (10 * 0.0 + 30 * 5.0) / 40  # pooled mean of the two strata's expectations
    covered = 0
    for t in range(100):
        strata = [rng.normal(0.0, 1.0, 10), rng.normal(5.0, 3.0, 30)]
        ci = stats.stratified_bootstrap_ci(
            strata, lambda a: np.concatenate(a).mean(), n_boot=200, seed=t
        )
        covered += ci.low <= truth <= ci.high
    assert 0.86 <= covered / 100 <= 1.0


def test_bootstrap_is_deterministic_and_checks_its_arguments():
    x = [np.random.default_rng(0).normal(size=10)]
    assert stats.iqm_ci(x, seed=3) == stats.iqm_ci(x, seed=3)
    assert stats.iqm_ci(x, seed=3) != stats.iqm_ci(x, seed=4)
    with pytest.raises(ValueError, match="alpha"):
        stats.iqm_ci(x, alpha=1.5)
    with pytest.raises(ValueError, match="n_boot"):
        stats.iqm_ci(x, n_boot=0)
    with pytest.raises(ValueError, match="at least one run"):
        stats.iqm_ci([[]])


def test_loglog_fit_recovers_an_exact_power_law():
    runs = {m: [3.0 * m**1.5] * 3 for m in (2, 4, 8)}
    fit = stats.loglog_slope_ci(runs, n_boot=200)
    assert fit.slope == pytest.approx(1.5) and np.exp(fit.intercept) == pytest.approx(3.0)
    assert fit.slope_ci.low == pytest.approx(1.5) and fit.slope_ci.high == pytest.approx(1.5)
    np.testing.assert_allclose(fit.predict([2, 16]), [3.0 * 2**1.5, 3.0 * 16**1.5])


def test_loglog_slope_interval_covers_the_true_exponent():
    rng = np.random.default_rng(3)
    covered = 0
    trials = 60
    for t in range(trials):
        runs = {m: m**2.0 * rng.lognormal(0.0, 0.3, 5) for m in (2, 4, 8, 16)}
        ci = stats.loglog_slope_ci(runs, n_boot=200, seed=t).slope_ci
        covered += ci.low <= 2.0 <= ci.high
    assert 0.83 <= covered / trials <= 1.0


def test_loglog_fit_refuses_what_it_cannot_fit():
    with pytest.raises(ValueError, match="two distinct x"):
        stats.loglog_fit([2, 2], [1, 2])
    with pytest.raises(ValueError, match="positive y"):
        stats.loglog_fit([2, 4], [1, 0])
