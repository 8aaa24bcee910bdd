"""Overcooked throughput with observations: ours vs JaxMARL vs the overcooked-ai reference MDP.

    python benchmarks/overcooked_throughput.py                 # full run, a few minutes
    python benchmarks/overcooked_throughput.py --quick         # smoke run
    python benchmarks/overcooked_throughput.py --systems ours-classic,jaxmarl --batch-sizes 8192

Systems (``--systems``, all by default):

- ``ours-classic``: ``xpm_bench.make("OvercookedClassic-<Layout>-v0", num_envs=B)``, the
  older auto-cook rule that JaxMARL also uses; random actions pre-generated on the device,
  ``env.step`` timed in a loop after warm-up (observations and auto-reset included).
- ``ours``: the same for ``Overcooked-<Layout>-v0`` (overcooked-ai 1.1.0 rules).
- ``jaxmarl``: JaxMARL's Overcooked, ``jit(scan(vmap(env.step)))`` over B copies with its own
  auto-reset; the observations are carried through the scan, so they are computed every
  step; compile time is excluded (and reported separately).
- ``jaxmarl-noreset`` and ``jaxmarl-noobs`` (diagnostics, not run by default): the same scan
  over ``env.step_env``, which skips JaxMARL's auto-reset, with the observations carried
  (``-noreset``) or dropped from the carry (``-noobs``: XLA then removes the observation
  computation as dead code, so no observation is built). They locate the published anchor
  (about 1.6M / 1.9M steps/s at B = 1024 / 8192): on this machine only ``-noobs`` reaches it.
  ``ours-classic-noobs`` (diagnostic) is its like: ``ours-classic`` with the observation
  encoder replaced by returning one fixed buffer (dynamics, events, rewards, auto-reset).
- ``reference``: overcooked-ai 1.1.0's ``OvercookedGridworld``, one state at a time:
  ``get_state_transition`` plus ``lossless_state_encoding`` each step, back to the standard
  start state every 400 steps. Its rate does not depend on B, so it is measured once per
  layout and used as the peer at every B.

A system whose environment is not installed or registered is reported as "not available"
and the rest still run. Ratios pair like with like: ``ours-classic / jaxmarl`` (same
rule) and ``ours / reference`` (same rule). Targets: ours-classic >= 1.0x JaxMARL at
B = 8192, and ours >= 50x the reference at B = 1024.

Each (system, layout, B) point runs in its own subprocess pinned to ``--threads`` CPUs
(default 2) and reports its own peak resident memory; see ``_common.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402

HORIZON = 400
NUM_ACTIONS = 6
DEFAULT_BATCH_SIZES = (1, 64, 1024, 8192)
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "overcooked_throughput.json"
SYSTEMS = ("ours-classic", "ours", "jaxmarl", "reference")
DIAGNOSTICS = ("jaxmarl-noreset", "jaxmarl-noobs", "ours-classic-noobs")
OURS = ("ours", "ours-classic", "ours-classic-noobs")

# Layout name in overcooked-ai -> (our id variant, JaxMARL's layout key).
# JaxMARL's counter_circuit has the same grid as counter_circuit_o_1order; only the two
# start cells differ.
LAYOUTS = {
    "cramped_room": ("CrampedRoom", "cramped_room"),
    "counter_circuit_o_1order": ("CounterCircuit", "counter_circuit"),
}
LAYOUT_ALIASES = {"counter_circuit": "counter_circuit_o_1order"}

# Targets: (name, numerator system, denominator system, batch size, minimum ratio).
TARGETS = (
    ("ours-classic >= 1.0x JaxMARL at B=8192", "ours-classic", "jaxmarl", 8192, 1.0),
    ("ours >= 50x reference at B=1024", "ours", "reference", 1024, 50.0),
)
# Ratios shown in the table, like against like.
RATIOS = (("ours-classic", "jaxmarl"), ("ours", "reference"))

PUBLISHED_ANCHORS = {
    "jaxmarl": "about 1.6M steps/s at B=1024 and 1.9M at B=8192 on a 2-core CPU machine",
    "reference": "about 22k steps/s (one state, random actions) on a 2-core CPU machine",
}


def ours_env_id(system: str, layout: str) -> str:
    """Our registered id for ``system`` on ``layout``."""
    family = "OvercookedClassic" if system.startswith("ours-classic") else "Overcooked"
    return f"{family}-{LAYOUTS[layout][0]}-v0"


# ======================================================================= workers
def measure_reference(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker: the overcooked-ai MDP, one state, random actions, with and without encoding."""
    import warnings

    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from overcooked_ai_py.mdp.actions import Action
        from overcooked_ai_py.mdp.overcooked_mdp import OvercookedGridworld

    mdp = OvercookedGridworld.from_layout_name(spec["layout"])
    rng = np.random.default_rng(spec["seed"])
    codes = rng.integers(0, NUM_ACTIONS, size=(4096, 2))
    joint_actions = [(Action.INDEX_TO_ACTION[a], Action.INDEX_TO_ACTION[b]) for a, b in codes]
    sim = {"state": mdp.get_standard_start_state(), "t": 0, "i": 0}

    def run_chunk(n: int, encode: bool) -> int:
        for _ in range(n):
            if sim["t"] == HORIZON:
                sim["state"], sim["t"] = mdp.get_standard_start_state(), 0
            joint = joint_actions[sim["i"] % len(joint_actions)]
            sim["state"], _info = mdp.get_state_transition(sim["state"], joint)
            if encode:
                mdp.lossless_state_encoding(sim["state"])
            sim["t"] += 1
            sim["i"] += 1
        return n

    run_chunk(spec["warmup_steps"], encode=True)
    steps, seconds = common.time_chunks(lambda n: run_chunk(n, True), spec["min_seconds"])
    bare_steps, bare_seconds = common.time_chunks(
        lambda n: run_chunk(n, False), spec["min_seconds"] / 2
    )
    return {
        "status": "ok",
        "steps": steps,
        "seconds": seconds,
        "steps_per_s": steps / seconds,
        "steps_per_s_without_obs": bare_steps / bare_seconds,
        "peak_rss_mb": common.peak_rss_mb(),
    }


def jaxmarl_scan_length(batch: int) -> int:
    """Steps per jitted call: about 64k env steps, between 4 and 256 loop iterations."""
    return max(4, min(256, 65_536 // batch))


def measure_jaxmarl(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker: JaxMARL Overcooked, B copies, jit + vmap + lax.scan; ``spec["system"]`` picks
    the variant (auto-reset or not, observations carried or dropped)."""
    if spec["device"] == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
    import time
    from functools import partial

    import jax
    from jaxmarl import make
    from jaxmarl.environments.overcooked import overcooked_layouts

    if spec["device"].startswith("cuda") and jax.default_backend() != "gpu":
        return {"status": "not available", "reason": "jax has no GPU backend here"}
    env = make("overcooked", layout=overcooked_layouts[spec["jaxmarl_layout"]])
    if env.max_steps != HORIZON:
        return {"status": "error", "reason": f"JaxMARL horizon is {env.max_steps}, not 400"}
    batch = spec["batch_size"]
    length = jaxmarl_scan_length(batch)
    system = spec["system"]
    step_batch = jax.vmap(env.step if system == "jaxmarl" else env.step_env)
    keep_obs = system != "jaxmarl-noobs"

    def one_step(carry, acts):
        key, state, obs = carry
        key, sub = jax.random.split(key)
        actions = {"agent_0": acts[:, 0], "agent_1": acts[:, 1]}
        new_obs, state, _rew, _done, _info = step_batch(
            jax.random.split(sub, batch), state, actions
        )
        return (key, state, new_obs if keep_obs else obs), None

    # The observation dict is part of the carry and is returned, so XLA must build it on
    # every step (unless ``-noobs`` drops it); donating the carry lets XLA update it in place.
    @partial(jax.jit, donate_argnums=0)
    def rollout(carry, action_chunk):
        carry, _ = jax.lax.scan(one_step, carry, action_chunk)
        return carry

    key = jax.random.PRNGKey(spec["seed"])
    key, reset_key, action_key = jax.random.split(key, 3)
    obs, state = jax.vmap(env.reset)(jax.random.split(reset_key, batch))
    n_chunks = max(1, 64 // length)
    action_chunks = [
        jax.random.randint(k, (length, batch, 2), 0, NUM_ACTIONS)
        for k in jax.random.split(action_key, n_chunks)
    ]
    box = {"carry": (key, state, obs), "i": 0}

    def run_chunk(n: int) -> int:
        for _ in range(n):
            box["carry"] = rollout(box["carry"], action_chunks[box["i"] % n_chunks])
            box["i"] += 1
        jax.block_until_ready(box["carry"])
        return n * length * batch

    start = time.perf_counter()
    run_chunk(1)  # compiles
    compile_s = time.perf_counter() - start
    run_chunk(2)  # warm-up
    steps, seconds = common.time_chunks(run_chunk, spec["min_seconds"])
    return {
        "status": "ok",
        "steps": steps,
        "seconds": seconds,
        "steps_per_s": steps / seconds,
        "compile_s": compile_s,
        "scan_length": length,
        "jax_backend": jax.default_backend(),
        "observation_shape": list(obs["agent_0"].shape[1:]),
        "peak_rss_mb": common.peak_rss_mb(),
    }


def run_worker_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Dispatch one worker spec to its measurement."""
    common.limit_threads(spec["threads"])
    system = spec["system"]
    if system == "reference":
        return measure_reference(spec)
    if system.startswith("jaxmarl"):
        return measure_jaxmarl(spec)
    return common.measure_torch_env(spec)


# ======================================================================= driver
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (ours and JaxMARL)")
    parser.add_argument(
        "--layouts",
        default=",".join(LAYOUTS),
        help=f"comma list of overcooked-ai layout names; accepted: {', '.join(LAYOUTS)}",
    )
    parser.add_argument(
        "--batch-sizes",
        default=",".join(map(str, DEFAULT_BATCH_SIZES)),
        help="comma-separated numbers of env copies",
    )
    parser.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help=f"comma list of: {', '.join(SYSTEMS + DIAGNOSTICS)}",
    )
    parser.add_argument("--quick", action="store_true", help="short timings, for a smoke run")
    parser.add_argument("--seconds", type=float, default=None, help="timed seconds per point")
    parser.add_argument("--threads", type=int, default=common.DEFAULT_THREADS)
    parser.add_argument(
        "--backend", default="auto", help="our engine backend: auto, torch or numba (CPU)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    parser.add_argument("--note", default="", help="free text stored in the JSON (conditions)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        return args
    try:
        args.batch_sizes = common.parse_int_list(args.batch_sizes)
    except ValueError as exc:
        parser.error(str(exc))
    args.layouts = [LAYOUT_ALIASES.get(x.strip(), x.strip()) for x in args.layouts.split(",")]
    unknown = [x for x in args.layouts if x not in LAYOUTS]
    if unknown:
        parser.error(f"unknown layout(s) {', '.join(unknown)}; accepted: {', '.join(LAYOUTS)}")
    args.systems = [x.strip() for x in args.systems.split(",") if x.strip()]
    accepted = SYSTEMS + DIAGNOSTICS
    unknown = [x for x in args.systems if x not in accepted]
    if unknown:
        parser.error(f"unknown system(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}")
    if args.device not in ("cpu", "cuda") and not args.device.startswith("cuda:"):
        parser.error(f"--device must be cpu or cuda, got {args.device!r}")
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    if args.seconds is None:
        args.seconds = 0.3 if args.quick else 2.0
    return args


def unavailable_reason(system: str, layout: str) -> str | None:
    """Why ``system`` cannot run here (checked without importing jax), or ``None``."""
    if system in OURS:
        import xpm_bench

        env_id = ours_env_id(system, layout)
        if env_id not in xpm_bench.registered_ids():
            return f"{env_id} is not registered in this xpm_bench"
    elif system.startswith("jaxmarl"):
        for module in ("jax", "jaxmarl"):
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed (pip install 'xpm-bench[bench]')"
    elif system == "reference" and importlib.util.find_spec("overcooked_ai_py") is None:
        return "overcooked-ai is not installed"
    return None


def worker_spec(args: argparse.Namespace, system: str, layout: str, batch: int | None) -> dict:
    """The JSON spec one worker receives."""
    spec: dict[str, Any] = {
        "system": system,
        "layout": layout,
        "batch_size": batch,
        "device": "cpu" if system == "reference" else args.device,
        "threads": args.threads,
        "min_seconds": args.seconds,
        "warmup_steps": 5 if args.quick else 20,
        "seed": 0,
    }
    if system in OURS:
        spec["env_id"] = ours_env_id(system, layout)
        spec["skip_obs"] = system.endswith("-noobs")
        # the diagnostic replaces the torch engine's encoder; the numba kernel encodes inline
        spec["backend"] = "torch" if spec["skip_obs"] else args.backend
    if system.startswith("jaxmarl"):
        spec["jaxmarl_layout"] = LAYOUTS[layout][1]
    return spec


def measure_point(args: argparse.Namespace, system: str, layout: str, batch: int | None) -> dict:
    """Run (or skip) one measurement and return its result row."""
    row: dict[str, Any] = {"layout": layout, "system": system, "batch_size": batch}
    if system in OURS:
        row["env_id"] = ours_env_id(system, layout)
    reason = unavailable_reason(system, layout)
    if reason is not None:
        row.update(status="not available", reason=reason)
    else:
        row.update(common.run_worker(__file__, worker_spec(args, system, layout, batch)))
    label = "any B" if batch is None else f"B={batch}"
    print(f"  {layout:26s} {system:13s} {label:8s} {common.point_summary(row)}", flush=True)
    return row


def measure_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every selected (layout, system, B) point; the reference once per layout."""
    rows = []
    for layout in args.layouts:
        if "reference" in args.systems:
            rows.append(measure_point(args, "reference", layout, None))
        for batch in args.batch_sizes:
            for system in args.systems:
                if system != "reference":
                    rows.append(measure_point(args, system, layout, batch))
    return rows


def lookup(rows: list[dict], layout: str, system: str, batch: int) -> dict | None:
    """The row of ``system`` on ``layout`` at ``batch`` (the reference row serves every B)."""
    for row in rows:
        same_batch = system == "reference" or row["batch_size"] == batch
        if row["layout"] == layout and row["system"] == system and same_batch:
            return row
    return None


def rate(row: dict | None) -> float | None:
    """Steps/s of a row, or ``None`` when it did not run."""
    return row["steps_per_s"] if row is not None and row.get("status") == "ok" else None


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or ``None`` when either is missing."""
    return a / b if a is not None and b else None


def build_comparisons(args: argparse.Namespace, rows: list[dict]) -> list[dict[str, Any]]:
    """One record per (layout, B): steps/s and peak memory of each system, and the ratios."""
    comparisons = []
    for layout in args.layouts:
        for batch in args.batch_sizes:
            record: dict[str, Any] = {"layout": layout, "batch_size": batch}
            for system in args.systems:
                row = lookup(rows, layout, system, batch)
                record[f"{system}_steps_per_s"] = rate(row)
                record[f"{system}_peak_rss_mb"] = row.get("peak_rss_mb") if row else None
            for num, den in RATIOS:
                record[f"{num}/{den}"] = ratio(
                    record.get(f"{num}_steps_per_s"), record.get(f"{den}_steps_per_s")
                )
            comparisons.append(record)
    return comparisons


def evaluate_targets(args: argparse.Namespace, comparisons: list[dict]) -> list[dict[str, Any]]:
    """Pass/fail of each target per layout; ``passed`` is ``None`` when it could not run."""
    results = []
    for name, num, den, batch, minimum in TARGETS:
        for layout in args.layouts:
            record = next(
                (c for c in comparisons if c["layout"] == layout and c["batch_size"] == batch),
                None,
            )
            value = record.get(f"{num}/{den}") if record else None
            results.append(
                {
                    "target": name,
                    "layout": layout,
                    "batch_size": batch,
                    "ratio": value,
                    "minimum": minimum,
                    "passed": None if value is None else bool(value >= minimum),
                }
            )
    return results


def print_tables(args: argparse.Namespace, comparisons: list[dict], targets: list[dict]) -> None:
    """A table per layout (steps/s, ratios, peak RSS) and the target verdicts."""
    from tabulate import tabulate

    for layout in args.layouts:
        table = []
        for record in (c for c in comparisons if c["layout"] == layout):
            line = [record["batch_size"]]
            line += [common.fmt_rate(record.get(f"{s}_steps_per_s")) for s in args.systems]
            line += [_fmt_ratio(record.get(f"{n}/{d}")) for n, d in RATIOS]
            line += [common.fmt_mb(record.get(f"{s}_peak_rss_mb")) for s in args.systems]
            table.append(line)
        headers = ["B"] + [f"{s} steps/s" for s in args.systems]
        headers += [f"{n}/{d}" for n, d in RATIOS]
        headers += [f"{s} MiB" for s in args.systems]
        note = "except jaxmarl-noobs; " if "jaxmarl-noobs" in args.systems else ""
        print(f"\n{layout} (steps/s include observations {note}reference: one state, any B)")
        print(tabulate(table, headers=headers, tablefmt="github", disable_numparse=True))
    print("\nTargets:")
    for target in targets:
        verdict = {True: "PASS", False: "FAIL", None: "n/a (not measured)"}[target["passed"]]
        print(
            f"  {target['target']:42s} {target['layout']:26s} "
            f"{_fmt_ratio(target['ratio']):>8s}  {verdict}"
        )


def _fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or one worker) and write the JSON report."""
    args = parse_args(argv)
    if args.worker is not None:
        common.emit_result(run_worker_spec(json.loads(args.worker)))
        return 0
    print(
        f"Overcooked throughput on {args.device}, threads={args.threads}, "
        f"{args.seconds:g} s timed per point"
    )
    rows = measure_all(args)
    comparisons = build_comparisons(args, rows)
    targets = evaluate_targets(args, comparisons)
    print_tables(args, comparisons, targets)
    report = {
        "benchmark": "overcooked_throughput",
        "created": common.now_iso(),
        "machine": common.machine_info(args.device, args.threads),
        "note": args.note,
        "settings": {
            "device": args.device,
            "layouts": args.layouts,
            "batch_sizes": args.batch_sizes,
            "systems": args.systems,
            "quick": args.quick,
            "seconds_per_point": args.seconds,
            "threads": args.threads,
            "backend": args.backend,
            "horizon": HORIZON,
            "unit": "env steps per second (one copy advanced one joint step), obs included",
        },
        "results": rows,
        "comparisons": comparisons,
        "targets": targets,
        "published_anchors": PUBLISHED_ANCHORS,
    }
    path = common.write_json(args.out, report)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
