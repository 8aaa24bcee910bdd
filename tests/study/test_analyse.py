"""The study's analysis command: known IQMs, slopes and verdicts on a small committed fixture,
and docs/results.md fresh against the committed results."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # benchmarks/ is scripts run from the repo root, not installed
from benchmarks.study import analyse  # noqa: E402

FIXTURE = Path(__file__).parent / "fixture"


@pytest.fixture(scope="module")
def lines():
    return analyse.load_lines(FIXTURE)


def test_known_iqms_and_censoring(lines):
    sp2 = analyse.cost_cell(analyse.select(lines, "study-mppmr", "MPPMR-v0", "sp", 2))
    assert sp2.ci.estimate == pytest.approx(200_000)  # IQM of 1, 2, 3 (x 1e5), fractional
    assert analyse.cost_cell(
        analyse.select(lines, "study-mppmr", method="sp", m=4)
    ).ci.estimate == (pytest.approx(800_000))
    lipo = analyse.cost_cell(analyse.select(lines, "study-mppmr", method="lipo", m=8))
    # a censored run enters at its cap: IQM of 3M, 3M, 8M = (0.75 + 3 + 2) / 1.5 M
    assert lipo.ci.estimate == pytest.approx(3_833_333.33)
    assert (lipo.censored, lipo.n) == (1, 3)
    assert lipo.text(analyse.steps).startswith("≥ 3.83M [") and "1 censored" in lipo.text(str)


def test_known_slopes(lines):
    sp = analyse.slope(analyse.select(lines, "study-mppmr", method="sp"))
    assert sp.slope == pytest.approx(2.0)  # every seed's cost x4 from M=2 to M=4
    wm = analyse.slope(analyse.select(lines, "study-mppmr", method="xpm-wm"))
    assert (wm.slope, wm.slope_ci.low, wm.slope_ci.high) == pytest.approx((1.0, 1.0, 1.0))
    assert analyse.slope(analyse.select(lines, "study-mppmr", method="lipo")) is None  # one M


def test_claims_verdicts(lines):
    claims = analyse.claims(lines)
    assert len(claims) == 6
    fewer, linear, diversity, ego, sabotage, head = claims
    # 3M (CoMeDi) / 0.5M (XPM-WM) = 6 is the smaller ratio (LIPO's is 7.67)
    assert (fewer.number, fewer.interval, fewer.verdict) == ("6", "[6, 6]", "holds")
    assert linear.verdict == "cannot tell (not run)"  # baselines only at one M
    assert diversity.verdict == "holds" and diversity.number == "0"
    assert ego.verdict == "holds"
    assert (sabotage.number, sabotage.verdict) == ("0.09", "holds")
    assert head.verdict == "cannot tell (not run)"


def test_verdict_rule():
    from xpm_bench.stats import ConfidenceInterval

    def v(lo, hi):
        ci = ConfidenceInterval((lo + hi) / 2, lo, hi, 0.95)
        return analyse.verdict(ci, lambda lo, hi: lo >= 3, lambda lo, hi: hi < 3)

    assert (v(3, 5), v(1, 2.9), v(2, 4)) == ("holds", "does not hold", "cannot tell")
    one_seed = ConfidenceInterval(5, 5, 5, 0.95)  # a single run: a zero-width interval
    assert analyse.verdict(one_seed, lambda lo, hi: lo >= 3, lambda lo, hi: hi < 3, runs=1) == (
        "cannot tell (1 of 3 runs)"
    )


def test_render_runs_on_the_fixture(lines, tmp_path):
    text = analyse.render(lines, {"study-mppmr": 60, "study-crampedroom": 15})
    assert "| all " in text and "**holds**" in text
    paths = analyse.write_figures(lines, tmp_path)
    assert all(p.stat().st_size > 1000 for p in paths)


def test_results_md_is_fresh(monkeypatch):
    """docs/results.md is what the analysis command makes of the committed results."""
    monkeypatch.chdir(REPO)
    assert analyse.main(["--check"]) == 0, "run: python -m benchmarks.study.analyse"
