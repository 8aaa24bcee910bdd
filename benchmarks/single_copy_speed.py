"""Engine backends at small and large batches, and the single-copy views against the reference.

    python benchmarks/single_copy_speed.py            # the full run, a few minutes
    python benchmarks/single_copy_speed.py --quick    # smoke run

Measured, each point in its own worker pinned to ``--threads`` CPUs (default 1):

- B = 1, per engine backend (``torch``, ``numba``) and env: the raw engine (``env.step``), the
  PettingZoo view (``make_parallel``: dict actions in, dicts of numpy out) and the Gymnasium
  view (``make_single_agent``) with an idle partner (``ConstantPolicy``, so the partner's own
  cost stays out) and with ``RandomPolicy`` (a typical cheap partner). Random actions,
  auto-reset included.
- The peer at B = 1: overcooked-ai 1.1.0's ``OvercookedGridworld`` on the same layout,
  ``get_state_transition`` plus ``lossless_state_encoding`` every step (the worker of
  ``overcooked_throughput.py``). Targets: every view of ``Overcooked-CrampedRoom-v0`` (the
  same rule as the reference) at least as fast as the reference, on its default backend.
- Batches (``--batch-sizes``, default 16, 64, 1024, 8192): raw engine steps/s of both
  backends; the crossover is the smallest measured B where torch beats numba. Target:
  ``OvercookedClassic-CrampedRoom-v0`` at B = 16 on one thread >= 200k steps/s.
- Compile time of the numba kernels: a worker with an empty ``NUMBA_CACHE_DIR`` times ``make``
  (which loads every kernel) cold, then a second worker the same with that cache warm; a new
  empty cache for each env id.

One env step = one copy advanced by one joint action. JSON goes to
``benchmarks/results/single_copy_speed.json`` with the machine's load average; above ~2.5 on
2 cores the numbers are pessimistic.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402

ENV_IDS = ("Overcooked-CrampedRoom-v0", "OvercookedClassic-CrampedRoom-v0", "MPPMR-v0")
REFERENCE_LAYOUT = "cramped_room"
REFERENCE_ENV = "Overcooked-CrampedRoom-v0"  # the reference's own rule
BACKENDS = ("torch", "numba")
VIEWS = ("engine", "parallel", "single_idle", "single_random")
DEFAULT_BATCH_SIZES = (16, 64, 1024, 8192)
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "single_copy_speed.json"
B16_TARGET = ("OvercookedClassic-CrampedRoom-v0", 16, 200_000.0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-ids", default=",".join(ENV_IDS), help="comma-separated env ids")
    parser.add_argument(
        "--batch-sizes", default=",".join(map(str, DEFAULT_BATCH_SIZES)), help="batch sweep"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=None, help="timed seconds per point")
    parser.add_argument("--quick", action="store_true", help="short timings, for a smoke run")
    parser.add_argument("--skip-compile", action="store_true", help="do not time compilation")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    parser.add_argument("--note", default="", help="free text stored in the JSON (conditions)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        args.batch_sizes = common.parse_int_list(args.batch_sizes)
    except ValueError as exc:
        parser.error(str(exc))
    args.env_ids = [e.strip() for e in args.env_ids.split(",") if e.strip()]
    return args


# ======================================================================= workers
def measure_view(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker: steps/s of one single-copy view (``spec["view"]``) on one backend."""
    common.set_torch_threads(spec["threads"])
    import numpy as np

    import xpm_bench
    from xpm_bench.agents import ConstantPolicy, RandomPolicy

    env_id, backend = spec["env_id"], spec["backend"]
    actions = np.random.default_rng(spec["seed"]).integers(0, 6, size=(4096, 2))
    if spec["view"] == "parallel":
        env = xpm_bench.make_parallel(env_id, backend=backend)
        env.reset(seed=spec["seed"])
        names = env.possible_agents

        def one_step(a):
            if not env.agents:
                env.reset()
            env.step({names[0]: int(a[0]), names[1]: int(a[1])})

    else:
        probe = xpm_bench.make(env_id)
        partner = (
            ConstantPolicy(probe.action_names.index("stay"))
            if spec["view"] == "single_idle"
            else RandomPolicy(probe.num_actions, seed=spec["seed"])
        )
        env = xpm_bench.make_single_agent(env_id, partner=partner, backend=backend)
        env.reset(seed=spec["seed"])

        def one_step(a):
            _, _, terminated, truncated, _ = env.step(int(a[0]))
            if terminated or truncated:
                env.reset()

    counter = {"i": 0}

    def run_chunk(n: int) -> int:
        for _ in range(n):
            one_step(actions[counter["i"] % len(actions)])
            counter["i"] += 1
        return n

    run_chunk(spec["warmup_steps"])
    steps, seconds = common.time_chunks(run_chunk, spec["min_seconds"])
    return {"status": "ok", "steps": steps, "seconds": seconds, "steps_per_s": steps / seconds}


def measure_compile(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker: seconds to build an env on the numba backend (every kernel loaded) with the
    cache folder ``spec["cache_dir"]``; the first build in an empty folder compiles."""
    os.environ["NUMBA_CACHE_DIR"] = spec["cache_dir"]
    common.set_torch_threads(spec["threads"])
    import xpm_bench

    xpm_bench.make(spec["env_id"], backend="torch")  # imports and layout tables, not timed
    start = time.perf_counter()
    xpm_bench.make(spec["env_id"], backend="numba")
    return {"status": "ok", "seconds": time.perf_counter() - start}


def run_worker_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Dispatch one worker spec to its measurement."""
    common.limit_threads(spec["threads"])
    kind = spec["kind"]
    if kind == "reference":
        import overcooked_throughput

        return overcooked_throughput.measure_reference(spec)
    if kind == "compile":
        return measure_compile(spec)
    if kind == "engine":
        return common.measure_torch_env(spec)
    return measure_view(spec)


# ======================================================================= the run
def point(args: argparse.Namespace, kind: str, **spec: Any) -> dict[str, Any]:
    """Run one worker and print its line."""
    seconds = args.seconds if args.seconds is not None else (0.3 if args.quick else 3.0)
    full = {
        "kind": kind,
        "threads": args.threads,
        "min_seconds": seconds,
        "warmup_steps": 20 if args.quick else 500,
        "seed": 0,
        "device": "cpu",
        **spec,
    }
    result = common.run_worker(__file__, full)
    label = " ".join(f"{k}={v}" for k, v in spec.items() if k not in ("cache_dir",))
    summary = (
        f"{result['seconds']:.2f} s"
        if kind == "compile" and result.get("status") == "ok"
        else common.point_summary({"peak_rss_mb": None, **result})
    )
    print(f"  {kind:9s} {label:70s} {summary}", flush=True)
    return {"kind": kind, **spec, **result}


def measure_all(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """Every point of the run."""
    rows: dict[str, list[dict[str, Any]]] = {"single_copy": [], "batches": [], "compile": []}
    if any(e.startswith("Overcooked") for e in args.env_ids):
        rows["single_copy"].append(point(args, "reference", layout=REFERENCE_LAYOUT))
    for env_id in args.env_ids:
        for backend in BACKENDS:
            for view in VIEWS:
                kind = "engine" if view == "engine" else "view"
                spec = {"env_id": env_id, "backend": backend, "view": view}
                if kind == "engine":
                    spec["batch_size"] = 1
                rows["single_copy"].append(point(args, kind, **spec))
    for env_id in args.env_ids:
        for batch in args.batch_sizes:
            for backend in BACKENDS:
                spec = {"env_id": env_id, "backend": backend, "batch_size": batch}
                rows["batches"].append(point(args, "engine", **spec))
    if not args.skip_compile:
        for env_id in args.env_ids:  # an empty cache per env: Overcooked ids share kernels
            with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
                for state in ("cold", "warm"):
                    spec = {"env_id": env_id, "cache": state, "cache_dir": cache}
                    rows["compile"].append(point(args, "compile", **spec))
    return rows


def rate(rows: list[dict[str, Any]], **match: Any) -> float | None:
    """The steps/s of the row matching every key, if measured."""
    for row in rows:
        if all(row.get(k) == v for k, v in match.items()) and row.get("status") == "ok":
            return row["steps_per_s"]
    return None


def summarise(args: argparse.Namespace, rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Ratios against the reference, numba/torch ratios, crossovers and targets."""
    single, batches = rows["single_copy"], rows["batches"]
    reference = rate(single, kind="reference")
    summary: dict[str, Any] = {"reference_steps_per_s": reference, "vs_reference": {}}
    for env_id in args.env_ids:
        for backend in BACKENDS:
            for view in VIEWS:
                value = rate(single, env_id=env_id, backend=backend, view=view)
                if reference and value and env_id == REFERENCE_ENV:
                    summary["vs_reference"][f"{env_id} {backend} {view}"] = value / reference
    summary["numba_over_torch"] = {}
    summary["crossover"] = {}
    for env_id in args.env_ids:
        crossover = None
        for batch in [1, *args.batch_sizes]:
            src = single if batch == 1 else batches
            extra = {"view": "engine"} if batch == 1 else {}
            fast = rate(src, env_id=env_id, backend="numba", batch_size=batch, **extra)
            slow = rate(src, env_id=env_id, backend="torch", batch_size=batch, **extra)
            if fast and slow:
                summary["numba_over_torch"][f"{env_id} B={batch}"] = fast / slow
                if crossover is None and slow >= fast:
                    crossover = batch
        summary["crossover"][env_id] = crossover  # None: numba faster at every measured B
    targets = []
    env_id, batch, minimum = B16_TARGET
    value = rate(batches, env_id=env_id, backend="numba", batch_size=batch)
    if value is not None:
        targets.append(
            {
                "name": f"{env_id} numba B={batch} >= {minimum:.0f} steps/s",
                "value": value,
                "pass": value >= minimum,
            }
        )
    if reference:
        for view in VIEWS[1:]:
            value = rate(single, env_id=REFERENCE_ENV, backend="numba", view=view)
            if value is not None:
                targets.append(
                    {
                        "name": f"{REFERENCE_ENV} {view} (numba) >= reference",
                        "value": value / reference,
                        "pass": value >= reference,
                    }
                )
    summary["targets"] = targets
    return summary


def print_summary(summary: dict[str, Any]) -> None:
    """Ratios, crossovers and PASS/FAIL lines."""
    for name, ratio in summary["vs_reference"].items():
        print(f"  {name:60s} {ratio:6.2f}x reference")
    for name, ratio in summary["numba_over_torch"].items():
        print(f"  {name:60s} numba/torch {ratio:7.2f}x")
    for env_id, crossover in summary["crossover"].items():
        print(f"  crossover {env_id}: {crossover or 'none (numba faster at every B)'}")
    for target in summary["targets"]:
        verdict = "PASS" if target["pass"] else "FAIL"
        print(f"  {verdict} {target['name']}: {target['value']:.3g}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or one worker) and write the JSON report."""
    args = parse_args(argv)
    if args.worker is not None:
        common.emit_result(run_worker_spec(json.loads(args.worker)))
        return 0
    print(f"engine backends and single-copy views, threads={args.threads}")
    rows = measure_all(args)
    summary = summarise(args, rows)
    print_summary(summary)
    report = {
        "benchmark": "single_copy_speed",
        "created": common.now_iso(),
        "machine": common.machine_info("cpu", args.threads),
        "note": args.note,
        "settings": {
            "env_ids": args.env_ids,
            "batch_sizes": args.batch_sizes,
            "threads": args.threads,
            "quick": args.quick,
            "actions": "uniform random; views reset when an episode ends",
            "unit": "env steps per second (one copy advanced one joint step)",
        },
        "results": rows,
        "summary": summary,
    }
    path = common.write_json(args.out, report)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
