"""What a sweep folder holds, as a status table and as a report.

:func:`write_report` writes into the sweep folder

- ``results.jsonl``: one line per finished job (its spec values, population hashes, ledger,
  metrics, ego results, timings);
- ``summary.md``: per env, tables of method x M with the seeds aggregated as an interquartile
  mean and its stratified-bootstrap interval (:mod:`xpm_bench.stats`), the fitted exponent of
  real env steps against M, the sweep's wall clock against the sum of its jobs', and the
  jobs that failed;
- ``env_steps_vs_M.png`` (log-log, with the fitted slope per method) and ``sp_xp_vs_M.png``
  (SP and XP return per method).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xpm_bench.errors import ConfigError
from xpm_bench.io import atomic_path, atomic_write
from xpm_bench.stats import iqm_ci, loglog_slope_ci
from xpm_bench.sweep.job import JobPaths, read_json, read_state
from xpm_bench.sweep.run import driver_running, job_paths
from xpm_bench.sweep.spec import Job, SweepSpec


@dataclass(frozen=True)
class SummaryMetric:
    """A row of the summary: a label, where the value sits in a results line, and how to
    print it."""

    label: str
    path: tuple[str, ...]
    fmt: Callable[[float], str]


def _sig(value: float) -> str:
    return f"{value:.3g}"


def _count(value: float) -> str:
    return f"{value:,.0f}"


SUMMARY_METRICS = (
    SummaryMetric("SP return", ("metrics", "sp_mean", "value"), _sig),
    SummaryMetric("XP return", ("metrics", "xp_mean", "value"), _sig),
    SummaryMetric("SP-XP gap", ("metrics", "sp_xp_gap", "value"), _sig),
    SummaryMetric("compatibility classes", ("metrics", "compatibility_classes"), _sig),
    SummaryMetric("event-profile diversity", ("metrics", "event_profile_diversity", "value"), _sig),
    SummaryMetric("ego return vs holdout", ("ego", "mean_return"), _sig),
    SummaryMetric("ego BR-Prox IQM", ("ego", "br_prox_iqm"), _sig),
    SummaryMetric("real env steps", ("ledger", "env_steps"), _count),
    SummaryMetric("generation wall clock (s)", ("ledger", "wall_clock_s"), _count),
)


# ------------------------------------------------------------------------ reading
def load_sweep(out_dir: str | os.PathLike) -> tuple[SweepSpec, list[Job]]:
    """The spec a sweep folder was last run with, and its jobs."""
    out = Path(out_dir)
    data = read_json(out / "spec.json")
    if data is None:
        raise ConfigError(f"{str(out)!r} is not a sweep folder (no spec.json); see `sweep run`")
    spec = SweepSpec.from_dict(data)
    return spec, spec.jobs()


def job_status(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """One row per job: its values, status, attempts, wall clock and last error.

    A job that says ``running`` while no `sweep run` holds the folder was cut off (the
    driver died): it is shown as ``interrupted``, which is what a rerun will resume.
    """
    out = Path(out_dir)
    _, jobs = load_sweep(out)
    live = driver_running(out)
    rows = []
    for job in jobs:
        state = read_state(job_paths(out, job))
        status = state.get("status", "pending")
        if status == "running" and not live:
            status = "interrupted"
        rows.append(
            {
                "job": job.id,
                "method": job.method,
                "env_id": job.env_id,
                "pop_size": job.pop_size,
                "seed": job.seed,
                "status": status,
                "attempts": state.get("attempts", 0),
                "wall_s": state.get("wall_s"),
                "error": state.get("error"),
            }
        )
    return rows


def collect_results(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The results line of every finished job, in spec order."""
    out = Path(out_dir)
    _, jobs = load_sweep(out)
    lines = []
    for job in jobs:
        paths = job_paths(out, job)
        state = read_state(paths)
        if state.get("status") != "done" or not paths.result.exists():
            continue
        lines.append(results_line(job, paths, state))
    return lines


def results_line(job: Job, paths: JobPaths, state: dict[str, Any]) -> dict[str, Any]:
    result = read_json(paths.result)
    return {
        **job.to_dict(),
        "job": job.id,
        "population": {
            "content_hash": state.get("population_hash"),
            "file_hash": result["population"]["hash"],
        },
        "ledger": result.get("sample_cost"),
        "metrics": result.get("metrics"),
        "ego": result.get("ego"),
        "protocol_version": result["protocol"]["version"],
        "holdout": {k: result["holdout"][k] for k in ("name", "version", "hash")},
        "timings_s": {
            "job": state.get("wall_s"),
            "generate": state.get("generate_s"),
            "evaluate": state.get("evaluate_s"),
            "attempts": state.get("attempts"),
        },
    }


def _value(line: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = line
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


# ------------------------------------------------------------------------ writing
def write_report(
    out_dir: str | os.PathLike, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05
) -> list[Path]:
    """Write ``results.jsonl``, ``summary.md`` and the plots into ``out_dir``; return paths."""
    out = Path(out_dir)
    spec, _ = load_sweep(out)
    lines = collect_results(out)
    text = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines)
    atomic_write(out / "results.jsonl", lambda tmp: tmp.write_text(text))
    summary = summary_markdown(out, spec, lines, n_boot, seed, alpha)
    atomic_write(out / "summary.md", lambda tmp: tmp.write_text(summary))
    written = [out / "results.jsonl", out / "summary.md"]
    if lines:
        written += write_plots(out, spec, lines, n_boot, seed, alpha)
    return written


def _cell(values: list[float], fmt: Callable[[float], str], n_boot, seed, alpha) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{fmt(values[0])} (n=1)"
    ci = iqm_ci([values], n_boot=n_boot, seed=seed, alpha=alpha)
    return f"{fmt(ci.estimate)} [{fmt(ci.low)}, {fmt(ci.high)}] (n={len(values)})"


def _grouped(lines, env_id, path) -> dict[tuple[str, int], list[float]]:
    groups: dict[tuple[str, int], list[float]] = {}
    for line in lines:
        if line["env_id"] != env_id:
            continue
        value = _value(line, path)
        if value is not None:
            groups.setdefault((line["method"], line["pop_size"]), []).append(value)
    return groups


def summary_markdown(
    out: Path, spec: SweepSpec, lines: list[dict], n_boot: int, seed: int, alpha: float
) -> str:
    level = f"{100 * (1 - alpha):g}%"
    parts = [
        f"# Sweep `{spec.name}`\n",
        f"Methods {', '.join(spec.methods)}; envs {', '.join(spec.envs)}; M in "
        f"{', '.join(map(str, spec.pop_sizes))}; seeds {', '.join(map(str, spec.seeds))}; "
        f"preset `{spec.preset}`, protocol `{spec.protocol}`"
        + (f"; overrides {json.dumps(spec.set)}" if spec.set else "")
        + ".\n",
        f"Cells: interquartile mean (IQM) over seeds with a {level} stratified-bootstrap "
        f"interval ({n_boot} resamples, seed {seed}) and the number of seeds n; the IQM "
        f"weights the samples on the quartile boundaries fractionally (`xpm_bench.stats`).\n",
    ]
    for env_id in spec.envs:
        parts.append(f"## {env_id}\n")
        for metric in SUMMARY_METRICS:
            groups = _grouped(lines, env_id, metric.path)
            if not groups:
                continue
            rows = [
                [method]
                + [
                    _cell(groups.get((method, m), []), metric.fmt, n_boot, seed, alpha)
                    for m in spec.pop_sizes
                ]  # fmt: skip
                for method in spec.methods
            ]
            parts.append(f"### {metric.label}\n")
            headers = ["method"] + [f"M={m}" for m in spec.pop_sizes]
            parts.append(tabulate_rows(rows, headers) + "\n")
        slopes = _slope_rows(lines, env_id, spec, n_boot, seed, alpha)
        if slopes:
            parts.append(
                f"### Real env steps against M\n\nFitted exponent b of env steps = a * M^b "
                f"(least squares on log-log axes; {level} interval: stratified bootstrap over "
                f"the seeds at each M).\n"
            )
            parts.append(tabulate_rows(slopes, ["method", "slope b", "a", "points"]) + "\n")
    parts.append(_timing_section(out, lines))
    parts.append(_status_section(out))
    return "\n".join(parts)


def _slope_rows(lines, env_id, spec, n_boot, seed, alpha) -> list[list[str]]:
    groups = _grouped(lines, env_id, ("ledger", "env_steps"))
    rows = []
    for method in spec.methods:
        runs = {m: v for (meth, m), v in groups.items() if meth == method and v}
        if len(runs) < 2 or not all(x > 0 for v in runs.values() for x in v):
            continue
        fit = loglog_slope_ci(runs, n_boot=n_boot, seed=seed, alpha=alpha)
        ci = fit.slope_ci
        points = sum(len(v) for v in runs.values())
        rows.append(
            [
                method,
                f"{fit.slope:.3f} [{ci.low:.3f}, {ci.high:.3f}]",
                f"{math.exp(fit.intercept):,.0f}",
                str(points),
            ]  # fmt: skip
        )
    return rows


def sweep_timing(out: Path, lines: list[dict]) -> dict[str, Any]:
    """The sweep's wall clock (all ``sweep run`` invocations) against its jobs' summed wall
    clocks: the speed-up from running jobs at once."""
    invocations = read_json(out / "invocations.json", []) or []
    sweep_s = sum(float(i.get("wall_s") or 0.0) for i in invocations)
    jobs_s = sum(float(line["timings_s"]["job"] or 0.0) for line in lines)
    return {
        "sweep_wall_s": sweep_s,
        "jobs_wall_s_sum": jobs_s,
        "speedup": jobs_s / sweep_s if sweep_s > 0 else None,
        "invocations": invocations,
    }


def _timing_section(out: Path, lines: list[dict]) -> str:
    timing = sweep_timing(out, lines)
    if not timing["invocations"]:
        return "## Wall clock\n\nNo `sweep run` has finished in this folder.\n"
    rows = []
    for inv in timing["invocations"]:
        ex = inv.get("executor", {})
        rows.append(
            [
                ex.get("executor"),
                f"{ex.get('cpus')}",
                len(inv.get("jobs_to_run", [])),
                len(inv.get("jobs_done", [])),
                f"{float(inv.get('startup_s') or 0):,.0f}",
                f"{float(inv.get('wall_s') or 0):,.0f}",
                " / ".join(f"{x:.2f}" for x in inv.get("load_avg_start", [])),
                " / ".join(f"{x:.2f}" for x in inv.get("load_avg_end", [])),
            ]
        )
    table = tabulate_rows(
        rows,
        [
            "executor",
            "CPUs",
            "jobs to run",
            "jobs done",
            "start-up s",
            "wall s",
            "load avg at start (1/5/15 min)",
            "load avg at end",
        ],  # fmt: skip
    )
    speedup = timing["speedup"]
    return (
        "## Wall clock\n\n"
        f"Sweep wall clock {timing['sweep_wall_s']:,.0f} s over {len(timing['invocations'])} "
        f"`sweep run` invocation(s), executor start-up and holdout preparation included; the "
        f"finished jobs' own wall clocks sum to "
        f"{timing['jobs_wall_s_sum']:,.0f} s"
        + (f", a speed-up of {speedup:.2f}x.\n\n" if speedup else ".\n\n")
        + table
        + "\n"
    )


def _status_section(out: Path) -> str:
    rows = job_status(out)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    text = "## Jobs\n\n" + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ".\n"
    failed = [[r["job"], r["attempts"], r["error"]] for r in rows if r["status"] == "failed"]
    if failed:
        text += "\n" + tabulate_rows(failed, ["failed job", "attempts", "error"]) + "\n"
    return text


def tabulate_rows(rows: list[list[Any]], headers: list[str]) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers, tablefmt="github")


# -------------------------------------------------------------------------- plots
def write_plots(
    out: Path, spec: SweepSpec, lines: list[dict], n_boot: int, seed: int, alpha: float
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    return [
        _steps_plot(out / "env_steps_vs_M.png", spec, lines, n_boot, seed, alpha),
        _sp_xp_plot(out / "sp_xp_vs_M.png", spec, lines, n_boot, seed, alpha),
    ]


def _figure(n_envs: int):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n_envs, figsize=(5.0 * n_envs, 4.0), squeeze=False)
    return fig, axes[0]


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path


def _steps_plot(path, spec, lines, n_boot, seed, alpha) -> Path:
    import numpy as np

    fig, axes = _figure(len(spec.envs))
    for ax, env_id in zip(axes, spec.envs):
        groups = _grouped(lines, env_id, ("ledger", "env_steps"))
        for i, method in enumerate(spec.methods):
            runs = {m: v for (meth, m), v in groups.items() if meth == method and v}
            if not runs:
                continue
            colour = f"C{i}"
            xs = [m for m, v in runs.items() for _ in v]
            ys = [y for v in runs.values() for y in v]
            label = method
            if len(runs) >= 2:
                fit = loglog_slope_ci(runs, n_boot=n_boot, seed=seed, alpha=alpha)
                grid = np.geomspace(min(runs), max(runs), 50)
                ci = fit.slope_ci
                label = f"{method}: slope {fit.slope:.2f} [{ci.low:.2f}, {ci.high:.2f}]"
                ax.plot(grid, fit.predict(grid), color=colour, lw=1.5)
            ax.scatter(xs, ys, color=colour, s=18, label=label, zorder=3)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(list(spec.pop_sizes), [str(m) for m in spec.pop_sizes])
        ax.set_xlabel("population size M")
        ax.set_ylabel("real env steps (ledger)")
        ax.set_title(f"{env_id}: sample cost against M")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def _sp_xp_plot(path, spec, lines, n_boot, seed, alpha) -> Path:
    fig, axes = _figure(len(spec.envs))
    for ax, env_id in zip(axes, spec.envs):
        for name, key, style in (("SP", "sp_mean", "-"), ("XP", "xp_mean", "--")):
            groups = _grouped(lines, env_id, ("metrics", key, "value"))
            for i, method in enumerate(spec.methods):
                ms = [m for m in spec.pop_sizes if groups.get((method, m))]
                if not ms:
                    continue
                cis = [iqm_ci([groups[(method, m)]], n_boot, seed, alpha) for m in ms]
                mid = [c.estimate for c in cis]
                err = [[c.estimate - c.low for c in cis], [c.high - c.estimate for c in cis]]
                ax.errorbar(
                    ms, mid, yerr=err, color=f"C{i}", ls=style, marker="o", ms=4, capsize=3,
                    label=f"{method} {name}",
                )  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(spec.pop_sizes), [str(m) for m in spec.pop_sizes])
        ax.set_xlabel("population size M")
        ax.set_ylabel("mean team return (IQM over seeds)")
        ax.set_title(f"{env_id}: self-play and cross-play")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)
