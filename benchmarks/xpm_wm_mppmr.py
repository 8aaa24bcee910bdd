"""XPM-WM against LIPO and CoMeDi on MPPMR: real steps, diversity, sabotage, ego (issue 13).

Runs ``generate`` then ``evaluate`` for every (method, M) of the grid in this process, one
after another on the same machine, and writes one JSON with a row per job and the ratios the
issue asks for (real env steps of each baseline over XPM-WM's at the same M). Every job has
its own run dir under ``--work``, so an interrupted benchmark resumes where it stopped
(finished jobs are read back from the JSON, a generator run resumes from its checkpoint).

    python benchmarks/xpm_wm_mppmr.py --methods xpm-wm xpm-sim lipo comedi --pop-sizes 4 8 \
        --out benchmarks/results/xpm_wm_mppmr.json

Columns: real env steps by kind, imagined steps, generation wall clock, sp_mean, xp_mean,
landmarks_used, self-sabotage rate, bad-faith rate, ego mean return against the holdouts.
Goal (issue 13): >= 5x fewer real steps than both baselines at M=8, the same landmarks_used,
SP within 0.05, sabotage no higher than CoMeDi's; XPM-WM M=8 wall clock <= 5 minutes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from xpm_bench.evaluation.evaluate import evaluate_population
from xpm_bench.generators import generator_names, register_generator
from xpm_bench.generators.run import run_generation
from xpm_bench.io import write_json

BASELINES = ("lipo", "comedi")


def job_name(method: str, pop_size: int, overrides: list[str]) -> str:
    tail = "".join(f"+{o}" for o in overrides)
    return f"{method}-M{pop_size}{tail}"


def run_job(
    method: str, env_id: str, pop_size: int, args: argparse.Namespace, overrides: list[str]
) -> dict[str, Any]:
    """Generate (resuming a checkpoint if there is one) and evaluate one population."""
    run_dir = args.work / job_name(method, pop_size, overrides)
    resume = (run_dir / "checkpoint.pt").exists()
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    pop = run_generation(
        method, env_id, pop_size, seed=args.seed, preset=args.preset, overrides=overrides,
        run_dir=run_dir, resume=resume, threads=args.threads, checkpoint_interval_s=30.0,
    )  # fmt: skip
    gen_s = time.perf_counter() - start
    result = evaluate_population(pop, protocol=args.protocol, threads=args.threads)
    m = result["metrics"]
    ledger = pop.ledger or {}
    return {
        "method": method,
        "pop_size": pop_size,
        "overrides": overrides,
        "real_env_steps": ledger.get("env_steps"),
        "real_env_steps_by_kind": ledger.get("env_steps_by_kind"),
        "imagined_steps": ledger.get("imagined_steps"),
        "generation_wall_clock_s": ledger.get("wall_clock_s"),
        "this_process_generation_s": gen_s,
        "sp_mean": _value(m.get("sp_mean")),
        "xp_mean": _value(m.get("xp_mean")),
        "landmarks_used": m.get("landmarks_used"),
        "self_sabotage_rate": _value(m.get("self_sabotage_rate")),
        "bad_faith_rate": _value(m.get("bad_faith_rate")),
        "ego_mean_vs_holdouts": (result["ego"] or {}).get("mean_return"),
        "member_info": [dict(member.info) for member in pop.members],
        "load_average_1min": [load_before, os.getloadavg()[0]],
    }


def _value(metric: Any) -> Any:
    return metric["value"] if isinstance(metric, dict) else metric


def ratios(rows: list[dict[str, Any]], method: str) -> dict[str, Any]:
    """Real env steps of each baseline / ``method``'s, per population size."""
    out: dict[str, Any] = {}
    by_key = {(r["method"], r["pop_size"]): r for r in rows if not r["overrides"]}
    for (name, m), row in by_key.items():
        if name != method:
            continue
        for base in BASELINES:
            peer = by_key.get((base, m))
            if peer and row["real_env_steps"]:
                out[f"{base}_over_{method}_M{m}"] = peer["real_env_steps"] / row["real_env_steps"]
    return out


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (f"{'job':<34} {'real steps':>11} {'sp/xp/mp':>24} {'imagined':>10} {'wall s':>7} "
            f"{'SP':>5} {'XP':>5} {'lm':>3} {'sabot':>6} {'badf':>5} {'ego':>5}")  # fmt: skip
    print(head)
    for r in rows:
        kinds = r["real_env_steps_by_kind"] or {}
        by_kind = "/".join(f"{kinds.get(k, 0):,}" for k in ("sp", "xp", "mp"))
        print(
            f"{job_name(r['method'], r['pop_size'], r['overrides']):<34} "
            f"{r['real_env_steps'] or 0:>11,} {by_kind:>24} {r['imagined_steps'] or 0:>10,} "
            f"{r['generation_wall_clock_s'] or 0:>7.1f} {_fmt(r['sp_mean'])} {_fmt(r['xp_mean'])} "
            f"{r['landmarks_used'] if r['landmarks_used'] is not None else '-':>3} "
            f"{_fmt(r['self_sabotage_rate'], 6)} {_fmt(r['bad_faith_rate'])} "
            f"{_fmt(r['ego_mean_vs_holdouts'])}"
        )


def _fmt(x: Any, width: int = 5) -> str:
    return f"{x:>{width}.2f}" if isinstance(x, int | float) else f"{'-':>{width}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="MPPMR-v0")
    parser.add_argument("--methods", nargs="+", default=["xpm-wm", "xpm-sim", *BASELINES])
    parser.add_argument("--pop-sizes", nargs="+", type=int, default=[4, 8])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--protocol", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--ablations", nargs="*", default=[],
        help="override sets run for xpm-wm at the smallest M, e.g. reward_head=scalar",
    )  # fmt: skip
    parser.add_argument("--work", type=Path, default=Path("runs/xpm_wm_mppmr"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/xpm_wm_mppmr.json"))
    args = parser.parse_args()

    _register_unlisted(args.methods)
    known = set(generator_names())
    methods = [m for m in args.methods if m in known]
    missing = [m for m in args.methods if m not in known]
    jobs = [(m, n, []) for n in args.pop_sizes for m in methods]
    if "xpm-wm" in methods:
        jobs += [("xpm-wm", min(args.pop_sizes), [a]) for a in args.ablations]
    done = _load(args.out)
    rows = [r for r in done.get("rows", []) if (r["method"], r["pop_size"], r["overrides"])
            in {(m, n, o) for m, n, o in jobs}]  # fmt: skip
    finished = {(r["method"], r["pop_size"], tuple(r["overrides"])) for r in rows}
    for method, pop_size, overrides in jobs:
        if (method, pop_size, tuple(overrides)) in finished:
            continue
        print(f"== {job_name(method, pop_size, overrides)}", flush=True)
        rows.append(run_job(method, args.env, pop_size, args, overrides))
        _save(args, rows, missing)
    _save(args, rows, missing)
    print_table(rows)


def _register_unlisted(methods: list[str]) -> None:
    """Register, in this process only, baseline modules that exist but are not registered
    yet (their branch lands the registration); say so."""
    for name in methods:
        if name in generator_names():
            continue
        module = f"xpm_bench.generators.{name}"
        if importlib.util.find_spec(module) is not None:
            register_generator(name, module, "registered by the benchmark")
            print(f"note: {name!r} is not registered in this checkout; registered {module}")


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def _save(args: argparse.Namespace, rows: list[dict[str, Any]], missing: list[str]) -> None:
    data = {
        "benchmark": "xpm_wm_mppmr",
        "env_id": args.env,
        "preset": args.preset,
        "protocol": args.protocol,
        "seed": args.seed,
        "threads": args.threads,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "methods_not_registered": missing,
        "rows": rows,
        "ratios": {k: v for m in ("xpm-wm", "xpm-sim") for k, v in ratios(rows, m).items()},
    }
    write_json(args.out, data)


if __name__ == "__main__":
    main()
