"""The study's one analysis command: every table, figure and ``docs/results.md``.

    python -m benchmarks.study.analyse            # rewrite docs/results.md and the figures
    python -m benchmarks.study.analyse --check    # exit 1 if docs/results.md is stale

Reads every ``benchmarks/results/study/*.jsonl`` (written by :mod:`benchmarks.study.run`)
and the grid specs in ``benchmarks/study/*.yaml`` (for the runs planned). Seeds aggregate as
an IQM with a stratified-bootstrap interval and cost against M as a log-log fit with a
bootstrap interval on the slope, both from :mod:`xpm_bench.stats` (the sweep report's
implementation). A censored run enters the cost statistics at its cap (a lower bound on its
cost), and every cell says how many of its runs are censored.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from xpm_bench.generators.target import TARGETS, MonitorConfig
from xpm_bench.io import atomic_path, atomic_write
from xpm_bench.stats import (
    ConfidenceInterval,
    interquartile_mean,
    iqm_ci,
    loglog_slope_ci,
    stratified_bootstrap_ci,
)
from xpm_bench.sweep.report import tabulate_rows

SPEC_DIR = Path("benchmarks/study")
RESULTS_DIR = Path("benchmarks/results/study")
DOC = Path("docs/results.md")
FIGURES = Path("docs/images/study")
METHODS = ("sp", "lipo", "comedi", "xpm-sim", "xpm-wm")
N_BOOT, BOOT_SEED, ALPHA = 2000, 0, 0.05
MIN_RUNS = 3  # runs per compared group before a claim gets a verdict: the grid's seeds
MAIN_SPECS = ("study-mppmr", "study-crampedroom")  # the rest are the M = 8 ablations


# --------------------------------------------------------------------------- data
def load_lines(results_dir: Path = RESULTS_DIR) -> list[dict[str, Any]]:
    """Every results line, sorted by (spec, job) so the analysis never depends on file order."""
    lines = []
    for path in sorted(results_dir.glob("*.jsonl")):
        lines += [json.loads(t) for t in path.read_text().splitlines() if t.strip()]
    return sorted(lines, key=lambda line: (line["spec"], line["job"]))


def planned_runs(spec_dir: Path = SPEC_DIR) -> dict[str, int]:
    """Jobs each grid spec plans (methods x envs x M x seeds), by spec name."""
    planned = {}
    for path in sorted(spec_dir.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text())
        planned[spec["name"]] = math.prod(
            len(spec[key]) for key in ("methods", "envs", "pop_sizes", "seeds")
        )
    return planned


def value(line: dict[str, Any], *path: str) -> float | None:
    """A finite number at ``path`` in a results line, else None."""
    item: Any = line
    for key in path:
        if not isinstance(item, dict) or key not in item:
            return None
        item = item[key]
    if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
        return None
    return float(item)


def select(lines, spec: str, env_id: str | None = None, method: str | None = None, m=None):
    return [
        line for line in lines
        if line["spec"] == spec and (env_id is None or line["env_id"] == env_id)
        and (method is None or line["method"] == method) and (m is None or line["pop_size"] == m)
    ]  # fmt: skip


def costs(lines: Sequence[dict]) -> list[float]:
    """Cost to target (real env steps; the cap for a censored run) of each line."""
    return [float(line["target"]["cost_env_steps"]) for line in lines]


# ---------------------------------------------------------------------- statistics
@dataclass(frozen=True)
class Cell:
    """An aggregate over runs: IQM with interval, run count, censored count."""

    ci: ConfidenceInterval | None
    n: int
    censored: int = 0

    def text(self, fmt: Callable[[float], str]) -> str:
        if self.ci is None:
            return "-"
        lower = "≥ " if self.censored else ""
        tail = f"n={self.n}" + (f", {self.censored} censored" if self.censored else "")
        if self.n == 1:
            return f"{lower}{fmt(self.ci.estimate)} ({tail})"
        return f"{lower}{fmt(self.ci.estimate)} [{fmt(self.ci.low)}, {fmt(self.ci.high)}] ({tail})"


def cell(values: Sequence[float], censored: int = 0) -> Cell:
    if not values:
        return Cell(None, 0)
    return Cell(iqm_ci([list(values)], N_BOOT, BOOT_SEED, ALPHA), len(values), censored)


def cost_cell(lines: Sequence[dict]) -> Cell:
    return cell(costs(lines), sum(bool(line["target"]["censored"]) for line in lines))


def metric_cell(lines: Sequence[dict], *path: str) -> Cell:
    return cell([v for v in (value(line, *path) for line in lines) if v is not None])


def slope(lines: Sequence[dict]) -> Any:
    """Log-log fit of cost against M over ``lines`` (None with fewer than two M)."""
    runs: dict[float, list[float]] = {}
    for line in lines:
        runs.setdefault(float(line["pop_size"]), []).append(float(line["target"]["cost_env_steps"]))
    if len(runs) < 2:
        return None
    return loglog_slope_ci(runs, N_BOOT, BOOT_SEED, ALPHA)


def two_group(a: Sequence[float], b: Sequence[float], stat) -> ConfidenceInterval | None:
    """``stat(IQM(a), IQM(b))`` with a stratified bootstrap (each group a stratum)."""
    if not a or not b:
        return None
    return stratified_bootstrap_ci(
        [list(a), list(b)],
        lambda s: stat(interquartile_mean(s[0]), interquartile_mean(s[1])),
        N_BOOT, BOOT_SEED, ALPHA,
    )  # fmt: skip


def sig(x: float) -> str:
    return f"{x:.3g}"


def steps(x: float) -> str:
    return f"{x / 1e6:.3g}M" if x >= 1e5 else f"{x:,.0f}"


# -------------------------------------------------------------------------- claims
@dataclass(frozen=True)
class Claim:
    claim: str
    measure: str
    number: str
    interval: str
    verdict: str
    note: str


def verdict(
    ci: ConfidenceInterval | None, holds: Callable, fails: Callable, runs: int = MIN_RUNS
) -> str:
    """``holds`` / ``does not hold`` when the whole interval says so, else ``cannot tell``.

    ``runs``: the fewest runs behind any group compared; below :data:`MIN_RUNS` (the
    design's seeds) the bootstrap interval says nothing (one run gives a zero-width one), so
    no verdict is given.
    """
    if ci is None:
        return "cannot tell (not run)"
    if runs < MIN_RUNS:
        return f"cannot tell ({runs} of {MIN_RUNS} runs)"
    if holds(ci.low, ci.high):
        return "holds"
    if fails(ci.low, ci.high):
        return "does not hold"
    return "cannot tell"


def _interval(ci: ConfidenceInterval | None, fmt=sig) -> tuple[str, str]:
    if ci is None:
        return "-", "-"
    return fmt(ci.estimate), f"[{fmt(ci.low)}, {fmt(ci.high)}]"


def _censor_note(groups: dict[str, list[dict]]) -> str:
    parts = [f"{name} {sum(bool(x['target']['censored']) for x in g)}/{len(g)}"
             for name, g in groups.items() if g]  # fmt: skip
    return "censored runs (at the cap): " + ", ".join(parts) if parts else "no runs"


def _other_m_ratios(lines: list[dict], spec: str, env_id: str) -> str:
    """The claim-1 ratio at the other M that have runs (context, not the verdict)."""
    parts = []
    for m in sorted({x["pop_size"] for x in select(lines, spec, env_id)} - {8}):
        wm = costs(select(lines, spec, env_id, "xpm-wm", m))
        for base in ("lipo", "comedi"):
            ci = two_group(costs(select(lines, spec, env_id, base, m)), wm, lambda x, y: x / y)
            if ci is not None:
                parts.append(
                    f"M={m} {base}/xpm-wm {sig(ci.estimate)} [{sig(ci.low)}, {sig(ci.high)}]"
                )
    return ("; at other M: " + ", ".join(parts)) if parts else ""


def claims(lines: list[dict]) -> list[Claim]:
    env = "MPPMR-v0"
    main = "study-mppmr"
    at8 = {m: select(lines, main, env, m, 8) for m in METHODS}
    out = []
    # 1: at least 3x fewer env steps than LIPO and CoMeDi at M = 8
    ratios = [two_group(costs(at8[b]), costs(at8["xpm-wm"]), lambda x, y: x / y)
              for b in ("lipo", "comedi")]  # fmt: skip
    worst = None if None in ratios else min(ratios, key=lambda c: c.estimate)
    number, interval = _interval(worst)
    smaller = _other_m_ratios(lines, main, env)
    out.append(Claim(
        "XPM-WM needs >= 3x fewer env steps than LIPO and CoMeDi at M=8",
        "min over {LIPO, CoMeDi} of IQM cost / IQM XPM-WM cost, MPPMR M=8", number, interval,
        verdict(worst, lambda lo, hi: lo >= 3, lambda lo, hi: hi < 3,
                min(len(at8[k]) for k in ("xpm-wm", "lipo", "comedi"))),
        _censor_note({k: at8[k] for k in ("xpm-wm", "lipo", "comedi")}) + smaller,
    ))  # fmt: skip
    # 2: linear in M for XPM-WM, compounding for the baselines
    fits = {m: slope(select(lines, main, env, m)) for m in ("xpm-wm", "lipo", "comedi")}
    wm = fits["xpm-wm"]
    base = [fits[b] for b in ("lipo", "comedi")]
    ci = None if wm is None or None in base else wm.slope_ci
    ok = ci is not None and all(b.slope_ci.low > 1 for b in base)
    bad = ci is not None and any(b.slope_ci.high <= 1 for b in base)
    number, interval = _interval(ci, lambda x: f"{x:.2f}")
    base_text = ", ".join(
        f"{b}: {f.slope:.2f} [{f.slope_ci.low:.2f}, {f.slope_ci.high:.2f}]"
        for b, f in zip(("lipo", "comedi"), base) if f is not None
    )  # fmt: skip
    out.append(Claim(
        "XPM-WM cost grows linearly in M, the baselines' compounds",
        "log-log slope of cost against M (XPM-WM; baselines in the note), MPPMR", number,
        interval,
        verdict(ci, lambda lo, hi: lo <= 1 <= hi and ok, lambda lo, hi: hi < 1 or lo > 1 or bad,
                min(len(select(lines, main, env, k)) for k in fits)),
        f"baseline slopes: {base_text or 'not run'}",
    ))  # fmt: skip
    # 3: diversity and ego comparable (within 0.1 of the better baseline, both ways)
    for label, path in (("event-profile diversity", ("metrics", "event_profile_diversity", "value")),
                        ("ego return vs holdouts", ("ego", "mean_return"))):  # fmt: skip
        vals = {m: [v for v in (value(x, *path) for x in at8[m]) if v is not None] for m in METHODS}
        pool = vals["lipo"] + vals["comedi"]
        ci = two_group(vals["xpm-wm"], pool, lambda x, y: x - y)
        number, interval = _interval(ci)
        out.append(Claim(
            f"{label} stays comparable (XPM-WM vs baselines)",
            "IQM XPM-WM - IQM LIPO+CoMeDi, MPPMR M=8 (comparable: within ±0.1)", number,
            interval,
            verdict(ci, lambda lo, hi: lo >= -0.1 and hi <= 0.1,
                    lambda lo, hi: hi < -0.1 or lo > 0.1, min(len(vals["xpm-wm"]), len(pool))),
            f"runs: XPM-WM {len(vals['xpm-wm'])}, LIPO+CoMeDi {len(pool)}",
        ))  # fmt: skip
    # 4: self-sabotage 0.011 (XPM-Sim) against 0.09 (CoMeDi), over every M
    path = ("metrics", "self_sabotage_rate", "value")
    sab = {m: [v for v in (value(x, *path) for x in select(lines, main, env, m)) if v is not None]
           for m in ("xpm-sim", "comedi")}  # fmt: skip
    ci = two_group(sab["comedi"], sab["xpm-sim"], lambda x, y: x - y)
    number, interval = _interval(ci)
    sim = metric_cell(select(lines, main, env, "xpm-sim"), *path)
    com = metric_cell(select(lines, main, env, "comedi"), *path)
    out.append(Claim(
        "XPM-Sim's self-sabotage on MPPMR is 0.011 against CoMeDi's 0.09",
        "IQM CoMeDi - IQM XPM-Sim self-sabotage rate, MPPMR, all M (holds: > 0)", number,
        interval, verdict(ci, lambda lo, hi: lo > 0, lambda lo, hi: hi <= 0,
                          min(len(v) for v in sab.values())),
        f"XPM-Sim {sim.text(sig)}; CoMeDi {com.text(sig)}",
    ))  # fmt: skip
    # 5: vectorised event rewards beat a scalar reward head (cost at M = 8)
    scalar = select(lines, "study-ablation-reward-head-scalar", env, "xpm-wm", 8)
    ci = two_group(costs(scalar), costs(at8["xpm-wm"]), lambda x, y: x / y)
    number, interval = _interval(ci)
    out.append(Claim(
        "vectorised event rewards beat a scalar reward head for the world model",
        "IQM cost scalar head / IQM cost event head, XPM-WM MPPMR M=8 (holds: > 1)", number,
        interval, verdict(ci, lambda lo, hi: lo > 1, lambda lo, hi: hi < 1,
                          min(len(scalar), len(at8["xpm-wm"]))),
        _censor_note({"scalar": scalar, "events": at8["xpm-wm"]}),
    ))  # fmt: skip
    return out


# ---------------------------------------------------------------------- rendering
def runs_table(lines: list[dict], planned: dict[str, int]) -> str:
    rows = []
    for name, total in planned.items():
        done = [x for x in lines if x["spec"] == name]
        censored = sum(bool(x["target"]["censored"]) for x in done)
        rows.append([name, total, len(done), censored, total - len(done)])
    rows.append(["all", sum(planned.values()), len(lines),
                 sum(bool(x["target"]["censored"]) for x in lines), sum(planned.values()) - len(lines)])  # fmt: skip
    return tabulate_rows(rows, ["spec", "planned", "completed", "censored", "not run"])


def grid_table(lines, spec, env_id, fn: Callable[[list[dict]], str]) -> str:
    ms = sorted({x["pop_size"] for x in select(lines, spec, env_id)})
    methods = [m for m in METHODS if select(lines, spec, env_id, m)]
    rows = [[m] + [fn(select(lines, spec, env_id, m, k)) for k in ms] for m in methods]
    return tabulate_rows(rows, ["method"] + [f"M={k}" for k in ms])


def slope_table(lines, spec, env_id) -> str:
    rows = []
    for m in METHODS:
        sel = select(lines, spec, env_id, m)
        fit = slope(sel)
        if sel:
            text = (
                "-"
                if fit is None
                else f"{fit.slope:.2f} [{fit.slope_ci.low:.2f}, {fit.slope_ci.high:.2f}]"
            )
            rows.append([m, text, len({x["pop_size"] for x in sel})])
    return tabulate_rows(rows, ["method", "slope of cost vs M", "M values"])


def ablation_table(lines) -> str:
    rows = [
        [label, cost_cell(runs).text(steps), metric_cell(runs, "metrics", "xp_mean", "value").text(sig)]
        for label, runs in ablation_arms(lines)
    ]  # fmt: skip
    return tabulate_rows(rows, ["XPM-WM at M=8", "cost to target", "XP return"])


def claims_table(items: list[Claim]) -> str:
    rows = [[c.claim, c.measure, c.number, c.interval, f"**{c.verdict}**", c.note] for c in items]
    return tabulate_rows(
        rows, ["seed claim", "what we measure", "ours", "95% interval", "verdict", "notes"]
    )


def render(lines: list[dict], planned: dict[str, int]) -> str:
    """The whole of ``docs/results.md`` (a pure function of the results and the specs)."""
    level = f"{100 * (1 - ALPHA):g}%"
    targets = "\n".join(f"- `{t.env_id}`: {t.describe()}; censored at {steps(t.cap_per_member)} "
                        f"real env steps per member" for t in TARGETS.values())  # fmt: skip
    parts = [
        "# Reproduction study: results\n",
        "Generated by `python -m benchmarks.study.analyse` from `benchmarks/results/study/*.jsonl`"
        " (do not edit by hand; `tests/study/test_analyse.py` checks it is fresh). Specs: "
        "`benchmarks/study/*.yaml`; runner: `python -m benchmarks.study.run SPEC`.\n",
        "## Protocol: cost to target\n",
        "A method's cost is the sample-cost ledger (real env steps) at the first check at which "
        "its population meets the target. The checks (`xpm_bench/generators/target.py`, a "
        "harness callback) play the cross-play matrix of the finished members on held-out "
        f"episodes of an unmetered env every {MonitorConfig.interval_env_steps:,} real env steps"
        " and on the finished "
        "population; their episodes are counted separately and never charged. A run that does "
        "not meet the target within the cap (or at all) is censored at the cap and enters the "
        "statistics at the cap: a lower bound on its cost, marked `≥`. Targets:\n",
        targets + "\n",
        "**Read the costs with this in mind.** The generators in this checkout train each "
        "member for a fixed budget and none stops early, and a check counts only finished "
        "members (sequential methods: the `members` list of the generator state; LIPO and "
        "XPM-WM keep theirs in other forms, so only their finished population is checked). "
        "The target can therefore first be met when the last member is done: a met run's "
        "cost is its preset's whole budget, and a cost comparison between methods is a "
        "comparison of their preset budgets, conditioned on the target being met. Diversity, "
        "SP/XP and ego numbers are the evaluator's (`default` protocol) on that final "
        f"population. Cells: IQM over seeds with a {level} stratified-bootstrap interval "
        f"({N_BOOT} resamples, `xpm_bench.stats`).\n",
        "## Runs\n",
        runs_table(lines, planned) + "\n",
        "## Claims\n",
        claims_table(claims(lines)) + "\n",
        "Verdicts need the whole interval on one side and at least "
        f"{MIN_RUNS} runs (seeds) in every group compared; `cannot tell (not run)` means "
        "the runs behind the claim are not in the results yet.\n",
    ]
    for env_id, spec in (
        ("MPPMR-v0", "study-mppmr"),
        ("OvercookedClassic-CrampedRoom-v0", "study-crampedroom"),
    ):
        if not select(lines, spec, env_id):
            parts.append(f"## {env_id}\n\nNo runs yet.\n")
            continue
        parts += [
            f"## {env_id}\n",
            "![cost to target against M](images/study/cost_vs_M.png)\n" if env_id == "MPPMR-v0" else "",
            "### Cost to target (real env steps)\n",
            grid_table(lines, spec, env_id, lambda s: cost_cell(s).text(steps)) + "\n",
            "### Log-log slope of cost against M\n",
            slope_table(lines, spec, env_id) + "\n",
            "### SP / XP return of the final population\n",
            grid_table(lines, spec, env_id, lambda s: metric_cell(s, "metrics", "sp_mean", "value").text(sig)
                       + " / " + metric_cell(s, "metrics", "xp_mean", "value").text(sig)) + "\n",
            "### Event-profile diversity\n",
            grid_table(lines, spec, env_id, lambda s: metric_cell(s, "metrics", "event_profile_diversity", "value").text(sig)) + "\n",
            "### Ego return against the holdout partners\n",
            grid_table(lines, spec, env_id, lambda s: metric_cell(s, "ego", "mean_return").text(sig)) + "\n",
        ]  # fmt: skip
        if env_id == "MPPMR-v0":
            parts += [
                "### Self-sabotage rate\n",
                grid_table(lines, spec, env_id, lambda s: metric_cell(s, "metrics", "self_sabotage_rate", "value").text(sig)) + "\n",
                "![self-sabotage per method](images/study/self_sabotage.png)\n",
                "![one cross-play matrix per method](images/study/xp_heatmaps.png)\n",
                "![ego against holdouts](images/study/ego_vs_holdout.png)\n",
            ]  # fmt: skip
    parts += [
        "## Ablations (MPPMR, M = 8)\n",
        ablation_table(lines) + "\n",
        "![ablations](images/study/ablations.png)\n",
    ]
    return "\n".join(p for p in parts if p)


# ------------------------------------------------------------------------ figures
def write_figures(lines: list[dict], out: Path = FIGURES) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    out.mkdir(parents=True, exist_ok=True)
    mppmr = select(lines, "study-mppmr", "MPPMR-v0")
    return [
        _cost_figure(lines, out / "cost_vs_M.png"),
        _per_method_bars(mppmr, ("metrics", "self_sabotage_rate", "value"), "self-sabotage rate",
                         out / "self_sabotage.png"),
        _per_method_bars(mppmr, ("ego", "mean_return"), "ego return vs holdouts",
                         out / "ego_vs_holdout.png"),
        _heatmaps(mppmr, out / "xp_heatmaps.png"),
        _ablation_figure(lines, out / "ablations.png"),
    ]  # fmt: skip


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def _cost_figure(lines: list[dict], path: Path) -> Path:
    import matplotlib.pyplot as plt

    envs = [
        ("MPPMR-v0", "study-mppmr", (2, 4, 8, 16)),
        ("OvercookedClassic-CrampedRoom-v0", "study-crampedroom", (2, 4, 8)),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, (env_id, spec, grid) in zip(axes, envs):
        cap = [TARGETS[env_id].cap(m) for m in grid]
        ax.plot(grid, cap, color="grey", ls=":", lw=1, label="censoring cap")
        for i, method in enumerate(METHODS):
            sel = select(lines, spec, env_id, method)
            if not sel:
                continue
            ms = sorted({x["pop_size"] for x in sel})
            mid = [cost_cell(select(sel, spec, m=m)).ci.estimate for m in ms]
            fit = slope(sel)
            label = method if fit is None else f"{method}: slope {fit.slope:.2f}"
            shift = 2 ** (0.04 * (i - 2))  # methods side by side, so equal costs stay visible
            ax.plot([m * shift for m in ms], mid, color=f"C{i}", label=label)
            for x in sel:  # every run; hollow = censored at the cap
                face = "none" if x["target"]["censored"] else f"C{i}"
                ax.scatter([x["pop_size"] * shift], [x["target"]["cost_env_steps"]], s=34,
                           facecolors=face, edgecolors=f"C{i}", linewidths=1.5, zorder=3)  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(list(grid), [str(m) for m in grid])
        ax.set_xlabel("population size M")
        ax.set_ylabel("real env steps to target (hollow: censored)")
        ax.set_title(env_id)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        if not select(lines, spec, env_id):
            ax.text(0.5, 0.5, "no runs yet", ha="center", va="center", transform=ax.transAxes)
    return _save(fig, path)


def _per_method_bars(lines, path_in_line, label: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ms = sorted({x["pop_size"] for x in lines})
    width = 0.8 / max(1, len(ms))
    for j, m in enumerate(ms):
        for i, method in enumerate(METHODS):
            c = metric_cell(select(lines, "study-mppmr", method=method, m=m), *path_in_line)
            if c.ci is not None:
                ax.bar(i + j * width, c.ci.estimate, width,
                       yerr=[[c.ci.estimate - c.ci.low], [c.ci.high - c.ci.estimate]],
                       color=f"C{j}", label=f"M={m}" if i == 0 or not ax.containers else None)  # fmt: skip
    ax.set_xticks(np.arange(len(METHODS)) + 0.4 - width / 2, METHODS)
    ax.set_ylabel(label)
    ax.set_title(f"MPPMR-v0: {label} (IQM over seeds)")
    handles, names = ax.get_legend_handles_labels()
    if handles:
        unique = dict(zip(names, handles))
        ax.legend(unique.values(), unique.keys(), fontsize=8)
    return _save(fig, path)


def ablation_arms(lines: list[dict]) -> list[tuple[str, list[dict]]]:
    """(label, runs) of the reference XPM-WM at M = 8 and of every ablation spec."""
    arms = [("reference (default preset)", select(lines, "study-mppmr", "MPPMR-v0", "xpm-wm", 8))]
    specs = sorted({x["spec"] for x in lines} - set(MAIN_SPECS))
    return arms + [(spec.removeprefix("study-ablation-"), select(lines, spec)) for spec in specs]


def _ablation_figure(lines: list[dict], path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    arms = ablation_arms(lines)
    for i, (_, runs) in enumerate(arms):
        c = cost_cell(runs)
        if c.ci is not None:
            err = [[c.ci.estimate - c.ci.low], [c.ci.high - c.ci.estimate]]
            ax.bar(i, c.ci.estimate, 0.7, yerr=err, color="C4", hatch="//" if c.censored else None)
    ax.set_xticks(range(len(arms)), [label for label, _ in arms], rotation=20, fontsize=8)
    ax.set_ylabel("real env steps to target (hatched: censored runs)")
    ax.set_title("XPM-WM ablations, MPPMR-v0 M=8 (IQM over seeds)")
    if not any(runs for _, runs in arms):
        ax.text(0.5, 0.5, "no runs yet", ha="center", va="center", transform=ax.transAxes)
    return _save(fig, path)


def _heatmaps(lines: list[dict], path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METHODS), figsize=(2.6 * len(METHODS), 2.8))
    for ax, method in zip(axes, METHODS):
        sel = sorted(
            select(lines, "study-mppmr", method=method), key=lambda x: (-x["pop_size"], x["seed"])
        )
        ax.set_xticks([])
        ax.set_yticks([])
        if not sel:
            ax.set_title(f"{method}: not run", fontsize=9)
            continue
        line = sel[0]  # the largest population, lowest seed
        ax.imshow(np.asarray(line["xp_matrix"]), vmin=0, vmax=1, cmap="viridis")
        ax.set_title(f"{method} M={line['pop_size']} s{line['seed']}", fontsize=9)
    return _save(fig, path)


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/results.md is stale")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    parser.add_argument("--doc", type=Path, default=DOC)
    args = parser.parse_args(argv)
    text = render(load_lines(args.results), planned_runs())
    if args.check:
        fresh = args.doc.exists() and args.doc.read_text() == text
        print(
            f"{args.doc}: {'fresh' if fresh else 'stale: run python -m benchmarks.study.analyse'}"
        )
        return 0 if fresh else 1
    atomic_write(args.doc, lambda tmp: tmp.write_text(text))
    figures = write_figures(load_lines(args.results))
    print("\n".join(str(p) for p in [args.doc, *figures]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
