"""Aggregate statistics over runs: interquartile mean, percentile bootstrap, log-log fits.

One implementation for every place that aggregates seeds or runs: the evaluator (episodes),
the sweep report (seeds per method and population size) and the reproduction study.

- :func:`interquartile_mean` (IQM): the mean of the middle 50% of the samples, the aggregate
  that Agarwal et al. (2021, "Deep Reinforcement Learning at the Edge of the Statistical
  Precipice", the rliable library) recommend over the mean (outlier-robust) and the median
  (statistically inefficient).
- :func:`percentile_bootstrap`: the one bootstrap loop (redraw, apply a statistic, take the
  ``alpha/2`` and ``1 - alpha/2`` percentiles); :func:`stratified_bootstrap_ci` redraws runs
  with replacement *within* each stratum (task, environment, population size), as rliable's
  ``StratifiedBootstrap`` does, so every replicate keeps the design's run count per stratum.
  :func:`xpm_bench.evaluation.metrics.bootstrap_ci` (episodes per cross-play cell) uses the
  same loop.
- :func:`loglog_fit` and :func:`loglog_slope_ci`: the exponent ``b`` of ``y = a * x**b``
  (e.g. real env steps against population size M) by least squares on log-log axes, with a
  stratified-bootstrap interval over the runs at each ``x``.

Why not rliable itself: rliable 1.2.0 installs here but does not run against the current
scientific stack (its bootstrap passes ``random_state`` to ``arch``, which arch 8 rejects, and
arch 7.2 needs pandas < 3, which this project's other dependencies exclude). Its two
ingredients are small, so they live here, tested against closed-form values and against
``scipy.stats.trim_mean``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with a percentile bootstrap interval ``[low, high]``."""

    estimate: float
    low: float
    high: float
    level: float

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "level": self.level}


# --------------------------------------------------------------------------- IQM
def interquartile_mean(values: Any) -> float:
    """Mean of the middle 50% of ``values`` (all elements, flattened).

    The samples are sorted and the lowest and highest quarter dropped; where a quarter boundary
    falls inside a sample (``n`` not a multiple of 4), that sample counts with the fraction
    that lies inside the middle half. This is the interquartile mean of the samples' empirical
    distribution, ``2 * integral of the quantile function from 0.25 to 0.75``. For ``n`` a
    multiple of 4 it equals ``scipy.stats.trim_mean(values, 0.25)``, rliable's IQM; for other
    ``n`` trim_mean drops whole samples only, so at 3 seeds it would be the plain mean.
    ``nan`` for no samples.
    """
    x = np.sort(np.asarray(values, dtype=float).ravel())
    n = x.size
    if n == 0:
        return float("nan")
    lo, hi = 0.25 * n, 0.75 * n
    weights = np.clip(np.minimum(np.arange(1, n + 1), hi) - np.maximum(np.arange(n), lo), 0, None)
    return float((weights * x).sum() / weights.sum())


# --------------------------------------------------------------------- bootstrap
def _check_interval_args(n_boot: int, alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")


def percentile_bootstrap(
    estimate: float,
    redraw: Callable[[np.random.Generator], float],
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> ConfidenceInterval:
    """The percentile interval of ``n_boot`` replicates ``redraw(rng)``.

    ``redraw`` resamples the data with the generator it is given and returns the statistic
    on the resample; replicates that are ``nan`` are ignored. ``estimate`` is the statistic
    on the original data. The generator is ``numpy.random.default_rng(seed)``, so a seed fixes
    the interval.
    """
    _check_interval_args(n_boot, alpha)
    rng = np.random.default_rng(seed)
    values = np.fromiter((redraw(rng) for _ in range(n_boot)), dtype=float, count=n_boot)
    if np.isnan(values).all():
        return ConfidenceInterval(float(estimate), float("nan"), float("nan"), 1.0 - alpha)
    low, high = np.nanpercentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return ConfidenceInterval(float(estimate), float(low), float(high), 1.0 - alpha)


def _strata(strata: Sequence[Any]) -> list[np.ndarray]:
    arrays = [np.asarray(s, dtype=float).ravel() for s in strata]
    if not arrays or any(a.size == 0 for a in arrays):
        raise ValueError("every stratum needs at least one run")
    return arrays


def stratified_bootstrap_ci(
    strata: Sequence[Any],
    stat: Callable[[list[np.ndarray]], float],
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> ConfidenceInterval:
    """Percentile interval of ``stat(strata)`` under a stratified bootstrap.

    ``strata`` is a list of 1-D arrays, one per stratum (their lengths may differ); each
    replicate redraws every stratum's runs with replacement, independently and at its own
    size, and calls ``stat`` on the list of redrawn arrays.
    """
    arrays = _strata(strata)

    def redraw(rng: np.random.Generator) -> float:
        return float(stat([a[rng.integers(0, a.size, a.size)] for a in arrays]))

    return percentile_bootstrap(float(stat(arrays)), redraw, n_boot, seed, alpha)


def iqm_ci(
    strata: Sequence[Any], n_boot: int = 2000, seed: int = 0, alpha: float = 0.05
) -> ConfidenceInterval:
    """IQM over all runs of all ``strata`` (a list of 1-D arrays, e.g. one per task), with a
    stratified-bootstrap interval: rliable's aggregate. ``[runs]`` is a plain bootstrap over
    the runs."""
    return stratified_bootstrap_ci(
        strata, lambda arrays: interquartile_mean(np.concatenate(arrays)), n_boot, seed, alpha
    )


# ----------------------------------------------------------------- log-log fits
@dataclass(frozen=True)
class PowerLawFit:
    """``y = exp(intercept) * x**slope`` fitted by least squares on log-log axes, with a
    bootstrap interval on the slope."""

    slope: float
    intercept: float
    slope_ci: ConfidenceInterval

    def predict(self, x: Any) -> np.ndarray:
        """The fitted ``y`` at ``x``."""
        return np.exp(self.intercept) * np.asarray(x, dtype=float) ** self.slope


def loglog_fit(x: Any, y: Any) -> tuple[float, float]:
    """``(slope, intercept)`` of the least-squares line through ``(log x, log y)``.

    Needs at least two distinct ``x`` and positive ``x`` and ``y``.
    """
    lx, ly = np.log(_positive(x, "x")), np.log(_positive(y, "y"))
    if lx.shape != ly.shape:
        raise ValueError(f"x and y differ in length: {lx.size} and {ly.size}")
    if np.unique(lx).size < 2:
        raise ValueError("a log-log fit needs at least two distinct x values")
    dx = lx - lx.mean()
    slope = float(dx @ (ly - ly.mean()) / (dx @ dx))
    return slope, float(ly.mean() - slope * lx.mean())


def _positive(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if not (arr > 0).all():
        raise ValueError(f"a log-log fit needs positive {name} values, got {arr.tolist()}")
    return arr


def loglog_slope_ci(
    runs: dict[float, Sequence[float]], n_boot: int = 2000, seed: int = 0, alpha: float = 0.05
) -> PowerLawFit:
    """Fit ``y = a * x**b`` to ``runs`` (``x -> the y of every run at that x``).

    The interval on ``b`` is a stratified bootstrap with one stratum per ``x``: each replicate
    redraws the runs at every ``x`` and refits. Exact power-law data gives a zero-width
    interval.
    """
    xs = sorted(runs)
    strata = _strata([runs[x] for x in xs])
    _positive(np.concatenate(strata), "y")
    # each replicate keeps every stratum's size, so the x column is the same in all of them
    x = np.concatenate([np.full(a.size, float(v)) for v, a in zip(xs, strata)])
    slope, intercept = loglog_fit(x, np.concatenate(strata))
    lx = np.log(x)
    dx = lx - lx.mean()

    def replicate_slope(arrays: list[np.ndarray]) -> float:
        return float(dx @ np.log(np.concatenate(arrays)) / (dx @ dx))

    ci = stratified_bootstrap_ci(strata, replicate_slope, n_boot, seed, alpha)
    return PowerLawFit(slope, intercept, dataclasses.replace(ci, estimate=slope))
