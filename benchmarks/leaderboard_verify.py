"""How long verifying a leaderboard takes, against plain evaluation of the same populations.

In one run, each in a fresh worker process pinned to ``--threads`` CPUs:

- ``evaluate``: :func:`xpm_bench.evaluation.evaluate.evaluate_file` of every entry's
  population under its recorded protocol (the peer: what any user pays to score the file);
- ``verify --quick``: the stored checks of every entry (schema, hashes, versions, the
  generation command);
- ``verify`` (full): the stored checks, a re-evaluation and the field-by-field comparison.

It prints the seconds of each and the ratio full verify / evaluate (the verification's own
overhead), and writes JSON with the load average and thread count.

    python benchmarks/leaderboard_verify.py leaderboards/MPPMR-v0/default-v1 \
        --out benchmarks/results/leaderboard_verify.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    emit_result,
    limit_threads,
    machine_info,
    now_iso,
    run_worker,
    set_torch_threads,
    write_json,
)


def measure(spec: dict) -> dict:
    """Worker body: time one ``kind`` of work over every entry under ``spec["target"]``."""
    set_torch_threads(spec["threads"])
    from xpm_bench.evaluation.evaluate import evaluate_file
    from xpm_bench.leaderboard.board import find_entries
    from xpm_bench.leaderboard.verify import recorded_protocol, verify_entries

    entries = find_entries(spec["target"])
    start = time.perf_counter()
    if spec["kind"] == "evaluate":
        for entry in entries:
            evaluate_file(entry.population_path(fetch=True), recorded_protocol(entry.result))
        ok = True
    else:
        reports = verify_entries(entries, quick=spec["kind"] == "quick")
        ok = all(r.ok for r in reports)
    return {
        "status": "ok" if ok else "failed",
        "entries": len(entries),
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", default="leaderboards/MPPMR-v0/default-v1")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/leaderboard_verify.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        spec = json.loads(args.worker)
        limit_threads(spec["threads"])
        emit_result(measure(spec))
        return

    limit_threads(args.threads)
    load_at_start = os.getloadavg()[0]
    results = {}
    for kind in ("evaluate", "quick", "full"):
        spec = {"kind": kind, "target": args.target, "threads": args.threads}
        results[kind] = run_worker(__file__, spec, timeout_s=3600)
        print(f"{kind:>8}: {results[kind]}", flush=True)
    ratio = None
    if all(r.get("status") == "ok" for r in results.values()):
        ratio = results["full"]["seconds"] / results["evaluate"]["seconds"]
        print(f"full verify / evaluate: {ratio:.2f}x")
    out = write_json(
        args.out,
        {
            "benchmark": "leaderboard_verify",
            "when": now_iso(),
            "command": " ".join(sys.argv),
            "target": args.target,
            "machine": machine_info("cpu", args.threads),
            "load_average_1min_at_start": load_at_start,
            "results": results,
            "full_verify_over_evaluate": ratio,
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
