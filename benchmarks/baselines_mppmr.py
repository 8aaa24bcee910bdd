"""LIPO and CoMeDi against independent self-play: real cost, diversity, sabotage, ego (issue 12).

For every (method, M) of the grid, one after another in this process: ``generate`` with the
method's preset (seed 0 by default), then ``evaluate`` with the default protocol. Writes one
JSON with a row per job: real env steps by kind, generation wall clock and where it went
(rollouts, PPO updates, the rest), sp_mean, xp_mean, landmarks_used, self-sabotage and
bad-faith rates, the ego's mean return against the holdout partners; plus, per method, the
exponent of real env steps against M on log-log axes (``xpm_bench.stats.loglog_fit``).
Every job has its own run dir under ``--work``: an interrupted benchmark resumes (finished
rows are read back from the JSON, a generator run resumes from its checkpoint).

    python benchmarks/baselines_mppmr.py --methods sp lipo comedi --pop-sizes 2 4 8 \
        --out benchmarks/results/baselines_mppmr.json

Wall-clock numbers depend on the machine's load: the row records the 1-minute load average
before and after each job. Compare times only within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xpm_bench.evaluation.evaluate import evaluate_population
from xpm_bench.generators import generator_names
from xpm_bench.generators import xpm_common as xc
from xpm_bench.generators.run import run_generation
from xpm_bench.io import write_json
from xpm_bench.rl import trainer as sp_trainer
from xpm_bench.stats import loglog_fit


@contextlib.contextmanager
def timed_phases() -> Iterator[dict[str, float]]:
    """Seconds spent collecting rollouts and in PPO updates while the block runs, measured
    by wrapping the functions the generators call (sp's trainer and the XPM joint trainer)."""
    spent = {"rollout_s": 0.0, "update_s": 0.0}
    patches = [
        (xc, "collect_rollout", "rollout_s"),
        (xc, "update_learners", "update_s"),
        (sp_trainer, "collect_rollout", "rollout_s"),
        (sp_trainer, "ppo_update", "update_s"),
    ]
    originals = [(module, name, getattr(module, name)) for module, name, _ in patches]

    def timer(fn: Any, key: str) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - start

        return wrapped

    for (module, name, key), (_, _, fn) in zip(patches, originals, strict=True):
        setattr(module, name, timer(fn, key))
    try:
        yield spent
    finally:
        for module, name, fn in originals:
            setattr(module, name, fn)


def run_job(method: str, pop_size: int, args: argparse.Namespace) -> dict[str, Any]:
    """Generate (resuming a checkpoint if there is one) and evaluate one population."""
    run_dir = args.work / f"{method}-M{pop_size}"
    resume = (run_dir / "checkpoint.pt").exists()
    load_before = os.getloadavg()[0]
    with timed_phases() as spent:
        start = time.perf_counter()
        pop = run_generation(
            method, args.env, pop_size, seed=args.seed, preset=args.preset, run_dir=run_dir,
            resume=resume, threads=args.threads, checkpoint_interval_s=30.0,
        )  # fmt: skip
        generation_s = time.perf_counter() - start
    start = time.perf_counter()
    result = evaluate_population(pop, protocol=args.protocol, threads=args.threads)
    evaluation_s = time.perf_counter() - start
    metrics, ledger = result["metrics"], pop.ledger or {}
    return {
        "method": method,
        "pop_size": pop_size,
        "env_steps": ledger.get("env_steps"),
        "env_steps_by_kind": ledger.get("env_steps_by_kind"),
        "generation_wall_clock_s": ledger.get("wall_clock_s"),
        "this_process": {
            "generation_s": generation_s,
            **spent,
            "other_s": generation_s - spent["rollout_s"] - spent["update_s"],
            "evaluation_s": evaluation_s,
            "resumed": resume,
        },
        "sp_mean": _value(metrics.get("sp_mean")),
        "xp_mean": _value(metrics.get("xp_mean")),
        "landmarks_used": metrics.get("landmarks_used"),
        "self_sabotage_rate": _value(metrics.get("self_sabotage_rate")),
        "bad_faith_rate": _value(metrics.get("bad_faith_rate")),
        "ego_mean_vs_holdouts": (result.get("ego") or {}).get("mean_return"),
        "xp_matrix": result.get("xp_matrix"),
        "load_average_1min": [load_before, os.getloadavg()[0]],
    }


def _value(metric: Any) -> Any:
    return metric["value"] if isinstance(metric, dict) else metric


def cost_growth(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per method: the exponent b of real env steps ~ M**b (least squares, log-log)."""
    out: dict[str, Any] = {}
    for method in sorted({r["method"] for r in rows}):
        mine = sorted((r["pop_size"], r["env_steps"]) for r in rows if r["method"] == method)
        if len({m for m, _ in mine}) >= 2:
            slope, _ = loglog_fit([m for m, _ in mine], [s for _, s in mine])
            out[method] = {"loglog_slope": slope, "points": mine}
    return out


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'job':<12} {'env steps':>11} {'sp / xp / mp':>28} {'wall s':>7} {'roll%':>5} "
        f"{'upd%':>5} {'SP':>5} {'XP':>5} {'lm':>3} {'sabot':>6} {'badf':>5} {'ego':>5}"
    )
    for r in rows:
        kinds = r["env_steps_by_kind"] or {}
        by_kind = " / ".join(f"{kinds.get(k, 0):,}" for k in ("sp", "xp", "mp"))
        here = r["this_process"]
        total = here["generation_s"] or 1.0
        print(
            f"{r['method'] + '-M' + str(r['pop_size']):<12} {r['env_steps'] or 0:>11,} "
            f"{by_kind:>28} {r['generation_wall_clock_s'] or 0:>7.0f} "
            f"{100 * here['rollout_s'] / total:>5.0f} {100 * here['update_s'] / total:>5.0f} "
            f"{_fmt(r['sp_mean'])} {_fmt(r['xp_mean'])} "
            f"{r['landmarks_used'] if r['landmarks_used'] is not None else '-':>3} "
            f"{_fmt(r['self_sabotage_rate'], 6)} {_fmt(r['bad_faith_rate'])} "
            f"{_fmt(r['ego_mean_vs_holdouts'])}"
        )


def _fmt(x: Any, width: int = 5) -> str:
    return f"{x:>{width}.2f}" if isinstance(x, int | float) else f"{'-':>{width}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="MPPMR-v0")
    parser.add_argument("--methods", nargs="+", default=["sp", "lipo", "comedi"])
    parser.add_argument("--pop-sizes", nargs="+", type=int, default=[2, 4, 8])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--protocol", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("runs/baselines_mppmr"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/baselines_mppmr.json"))
    args = parser.parse_args()
    unknown = sorted(set(args.methods) - set(generator_names()))
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; registered: {generator_names()}")
    jobs = [(m, n) for n in args.pop_sizes for m in args.methods]
    rows = [r for r in _load(args.out).get("rows", []) if (r["method"], r["pop_size"]) in jobs]
    finished = {(r["method"], r["pop_size"]) for r in rows}
    for method, pop_size in jobs:
        if (method, pop_size) in finished:
            continue
        print(f"== {method} M={pop_size}", flush=True)
        rows.append(run_job(method, pop_size, args))
        _save(args, rows)
    _save(args, rows)
    print_table(rows)
    for method, fit in cost_growth(rows).items():
        print(f"{method}: real env steps ~ M^{fit['loglog_slope']:.2f}")


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _save(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    write_json(
        args.out,
        {
            "benchmark": "baselines_mppmr",
            "env_id": args.env,
            "preset": args.preset,
            "protocol": args.protocol,
            "seed": args.seed,
            "threads": args.threads,
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "rows": rows,
            "cost_growth": cost_growth(rows),
        },
    )


if __name__ == "__main__":
    main()
