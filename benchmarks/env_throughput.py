"""MPPMR-v0 throughput: env steps per second with random actions, by batch size and device.

    python benchmarks/env_throughput.py                      # B = 1, 1024, 8192 on cpu (+cuda)
    python benchmarks/env_throughput.py --quick              # smoke run, well under a minute
    python benchmarks/env_throughput.py --device cuda --batch-sizes 8192,65536

One env step is one copy advanced by one joint action, so a ``step`` call on ``B`` copies
counts as ``B`` env steps. Observations are included (``env.step`` always builds them) and
auto-reset is included. There is no target: this is the baseline other numbers are read
against. Each (device, B) point runs in its own subprocess pinned to ``--threads`` CPUs and
reports its own peak resident memory; see ``_common.py`` for the thread policy.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402

ENV_ID = "MPPMR-v0"
DEFAULT_BATCH_SIZES = (1, 1024, 8192)
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "env_throughput.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-id", default=ENV_ID, help="registered env id (default MPPMR-v0)")
    parser.add_argument(
        "--device",
        default="auto",
        help="cpu, cuda, a comma list, or auto (cpu, plus cuda when torch sees a GPU)",
    )
    parser.add_argument(
        "--batch-sizes",
        default=",".join(map(str, DEFAULT_BATCH_SIZES)),
        help="comma-separated numbers of env copies",
    )
    parser.add_argument("--quick", action="store_true", help="short timings, for a smoke run")
    parser.add_argument("--seconds", type=float, default=None, help="timed seconds per point")
    parser.add_argument("--threads", type=int, default=common.DEFAULT_THREADS)
    parser.add_argument("--backend", default="auto", help="engine backend: auto, torch, numba")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    parser.add_argument("--note", default="", help="free text stored in the JSON (conditions)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        args.batch_sizes = common.parse_int_list(args.batch_sizes)
    except ValueError as exc:
        parser.error(str(exc))
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    return args


def resolve_devices(text: str) -> list[str]:
    """``auto`` -> cpu plus cuda if available; otherwise the comma list as given."""
    if text != "auto":
        return [d.strip() for d in text.split(",") if d.strip()]
    import torch

    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def measure_all(args: argparse.Namespace, devices: list[str]) -> list[dict[str, Any]]:
    """One worker per (device, batch size); returns the result rows."""
    seconds = args.seconds if args.seconds is not None else (0.3 if args.quick else 3.0)
    rows = []
    for device in devices:
        for batch in args.batch_sizes:
            spec = {
                "env_id": args.env_id,
                "batch_size": batch,
                "device": device,
                "threads": args.threads,
                "min_seconds": seconds,
                "warmup_steps": 5 if args.quick else 20,
                "seed": 0,
                "backend": args.backend,
            }
            result = common.run_worker(__file__, spec)
            rows.append({"device": device, "batch_size": batch, **result})
            print(f"  {device:5s} B={batch:<6d} {common.point_summary(result)}", flush=True)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    """A plain table of every point."""
    from tabulate import tabulate

    table = [
        [
            row["device"],
            row["batch_size"],
            common.fmt_rate(row.get("steps_per_s")),
            common.fmt_mb(row.get("peak_rss_mb")),
            common.fmt_mb(row.get("peak_device_mb")),
            row.get("status"),
        ]
        for row in rows
    ]
    headers = ["device", "B", "steps/s", "peak RSS MiB", "peak GPU MiB", "status"]
    print(tabulate(table, headers=headers, tablefmt="github"))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or one worker) and write the JSON report."""
    args = parse_args(argv)
    if args.worker is not None:
        spec = json.loads(args.worker)
        common.limit_threads(spec["threads"])
        common.emit_result(common.measure_torch_env(spec))
        return 0
    devices = resolve_devices(args.device)
    print(f"{args.env_id}: random actions, observations included, threads={args.threads}")
    rows = measure_all(args, devices)
    print_table(rows)
    report = {
        "benchmark": "env_throughput",
        "env_id": args.env_id,
        "created": common.now_iso(),
        "machine": common.machine_info(",".join(devices), args.threads),
        "note": args.note,
        "settings": {
            "devices": devices,
            "batch_sizes": args.batch_sizes,
            "quick": args.quick,
            "threads": args.threads,
            "backend": args.backend,
            "actions": "uniform random, 64 pre-generated sets on the device, reused cyclically",
            "unit": "env steps per second (one copy advanced one joint step)",
        },
        "results": rows,
    }
    path = common.write_json(args.out, report)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
