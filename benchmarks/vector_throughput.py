"""The Gymnasium vector view against the raw batched env: env steps per second, same run.

    python benchmarks/vector_throughput.py                 # MPPMR + CrampedRoom, B = 1024
    python benchmarks/vector_throughput.py --quick         # smoke run, well under a minute
    python benchmarks/vector_throughput.py --partners random,mlp --batch-sizes 256,1024

``raw``: ``xpm_bench.make(env_id, num_envs=B).step(actions)`` with pre-drawn random joint
actions (tensors in, tensors out). ``view``: ``xpm_bench.make_vec(env_id, B, partner=...)``
stepped with pre-drawn random ego actions (numpy in, numpy out, Gymnasium infos), its partner
acting inside the batch:

- ``random``: a uniformly random partner (the raw env's random second seat, as a policy);
- ``mlp``: an untrained 2x64 MLP actor (what a population member costs per step).

Target (printed PASS/FAIL): the view with the random partner at B = 1024 runs at >= 50% of
the raw env's steps/s. Raw and view are measured in one worker per point, in alternating
rounds (``--rounds`` x ``--seconds`` each), and the ratio is that of their median round
rates, so load from other processes hits both alike. Each point runs in its own subprocess
pinned to ``--threads`` CPUs; see ``_common.py`` for the thread policy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402

DEFAULT_ENV_IDS = ("MPPMR-v0", "OvercookedClassic-CrampedRoom-v0")
PARTNERS = ("random", "mlp")
TARGET_BATCH, TARGET_PARTNER, TARGET_RATIO = 1024, "random", 0.5
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "vector_throughput.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-ids", default=",".join(DEFAULT_ENV_IDS))
    parser.add_argument("--batch-sizes", default=str(TARGET_BATCH))
    parser.add_argument("--partners", default=",".join(PARTNERS), help="random, mlp")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds (5)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per round (1.0)")
    parser.add_argument("--quick", action="store_true", help="short timings, for a smoke run")
    parser.add_argument("--threads", type=int, default=common.DEFAULT_THREADS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    parser.add_argument("--note", default="", help="free text stored in the JSON (conditions)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        args.batch_sizes = common.parse_int_list(args.batch_sizes)
    except ValueError as exc:
        parser.error(str(exc))
    args.env_ids = [e.strip() for e in args.env_ids.split(",") if e.strip()]
    args.partners = [p.strip() for p in args.partners.split(",") if p.strip()]
    unknown = sorted(set(args.partners) - set(PARTNERS))
    if unknown:
        parser.error(
            f"unknown partner kind(s) {', '.join(unknown)}; accepted: {', '.join(PARTNERS)}"
        )
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.seconds = args.seconds or (0.1 if args.quick else 1.0)
    return args


# ------------------------------------------------------------------ worker
def make_partner(kind: str, env: Any) -> Any:
    """The partner policy of a kind (see the module docstring)."""
    from xpm_bench.agents import RandomPolicy
    from xpm_bench.agents.networks import NetPolicy, build_network, default_arch

    if kind == "random":
        return RandomPolicy(env.num_actions, seed=1)
    arch, kwargs = default_arch(tuple(env.observation_shape), env.num_actions, hidden=64, layers=2)
    return NetPolicy(build_network("mlp", {**kwargs, "gru": 0}), seed=1)


def measure_point(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker body: alternating rounds of the raw env and the view; median rates and ratio."""
    common.set_torch_threads(spec["threads"])
    import numpy as np
    import torch

    import xpm_bench

    env_id, batch = spec["env_id"], spec["batch_size"]
    raw = xpm_bench.make(env_id, num_envs=batch)
    view = xpm_bench.make_vec(env_id, batch, partner=make_partner(spec["partner"], raw))
    generator = torch.Generator().manual_seed(0)
    joint = torch.randint(0, raw.num_actions, (64, batch, 2), generator=generator)
    ego = np.random.default_rng(0).integers(0, raw.num_actions, size=(64, batch))
    raw.reset(seed=0)
    view.reset(seed=0)
    counters = {"raw": 0, "view": 0}

    def raw_chunk(n: int) -> int:
        for _ in range(n):
            raw.step(joint[counters["raw"] % 64])
            counters["raw"] += 1
        return n * batch

    def view_chunk(n: int) -> int:
        for _ in range(n):
            view.step(ego[counters["view"] % 64])
            counters["view"] += 1
        return n * batch

    raw_chunk(10), view_chunk(10)  # warm-up
    rates: dict[str, list[float]] = {"raw": [], "view": []}
    for _ in range(spec["rounds"]):
        for name, chunk in (("raw", raw_chunk), ("view", view_chunk)):
            steps, seconds = common.time_chunks(chunk, spec["seconds"])
            rates[name].append(steps / seconds)
    raw_rate, view_rate = statistics.median(rates["raw"]), statistics.median(rates["view"])
    return {
        "status": "ok",
        "raw_steps_per_s": raw_rate,
        "view_steps_per_s": view_rate,
        "ratio": view_rate / raw_rate,
        "rounds": rates,
        "peak_rss_mb": common.peak_rss_mb(),
    }


# ------------------------------------------------------------------ driver
def measure_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One worker per (env id, batch size, partner kind)."""
    rows = []
    for env_id in args.env_ids:
        for batch in args.batch_sizes:
            for partner in args.partners:
                spec = {
                    "env_id": env_id,
                    "batch_size": batch,
                    "partner": partner,
                    "threads": args.threads,
                    "rounds": args.rounds,
                    "seconds": args.seconds,
                }
                result = common.run_worker(__file__, spec, timeout_s=1800)
                row = {"env_id": env_id, "batch_size": batch, "partner": partner, **result}
                rows.append(row)
                print(f"  {env_id:34s} B={batch:<5d} {partner:6s} {summary(row)}", flush=True)
    return rows


def summary(row: dict[str, Any]) -> str:
    """One line: both rates and the ratio, or why the point is missing."""
    if row.get("status") != "ok":
        return f"{row.get('status')}: {row.get('reason', '')}"
    return (
        f"raw {common.fmt_rate(row['raw_steps_per_s'])}/s, view "
        f"{common.fmt_rate(row['view_steps_per_s'])}/s, ratio {row['ratio']:.2f}"
    )


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PASS/FAIL of the target for every env measured at the target batch with the random partner."""
    out = []
    for row in rows:
        if row["batch_size"] != TARGET_BATCH or row["partner"] != TARGET_PARTNER:
            continue
        ratio = row.get("ratio")
        out.append(
            {
                "env_id": row["env_id"],
                "target": f"view / raw >= {TARGET_RATIO} at B = {TARGET_BATCH}, random partner",
                "ratio": ratio,
                "passed": ratio is not None and ratio >= TARGET_RATIO,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or one worker) and write the JSON report."""
    args = parse_args(argv)
    if args.worker is not None:
        spec = json.loads(args.worker)
        common.limit_threads(spec["threads"])
        common.emit_result(measure_point(spec))
        return 0
    print(f"vector view vs raw batched env, threads={args.threads}")
    rows = measure_all(args)
    checks = targets(rows)
    for check in checks:
        verdict = "PASS" if check["passed"] else "FAIL"
        ratio = "n/a" if check["ratio"] is None else f"{check['ratio']:.2f}"
        print(f"{verdict}: {check['env_id']}: {check['target']} (got {ratio})")
    report = {
        "benchmark": "vector_throughput",
        "created": common.now_iso(),
        "machine": common.machine_info("cpu", args.threads),
        "note": args.note,
        "settings": {
            "env_ids": args.env_ids,
            "batch_sizes": args.batch_sizes,
            "partners": args.partners,
            "rounds": args.rounds,
            "seconds_per_round": args.seconds,
            "threads": args.threads,
            "unit": "env steps per second (one copy advanced one joint step)",
        },
        "results": rows,
        "targets": checks,
    }
    path = common.write_json(args.out, report)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
