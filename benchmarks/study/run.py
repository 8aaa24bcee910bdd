"""Run (part of) a study grid with the cost-to-target monitor; results go to committed JSONL.

    python -m benchmarks.study.run benchmarks/study/mppmr.yaml --pop-sizes 2 --seeds 0 \\
        --methods sp xpm-sim

Each job of the spec (a ``xpm-bench sweep`` spec) runs in its sweep-style folder
``<runs>/<spec name>/jobs/<job id>/`` (``run/`` checkpoint, ``target.json``, ``pop.pt``,
``result.json``, ``state.json``): generation with a
:class:`~xpm_bench.generators.target.TargetMonitor` on the harness, then the evaluator's
``evaluate`` on the finished population. Rerunning resumes an interrupted job from its
checkpoint (monitor checks included) and skips a finished one. Each finished job's line (the
sweep's results line, plus the XP matrix and the cost-to-target outcome with every check) is
written into ``benchmarks/results/study/<spec name>.jsonl`` as soon as it is done.

Why not ``xpm-bench sweep run``: the sweep's job runner has no monitor hook, and the study's
lines carry the target checks; this script reuses the sweep's spec, job folders, state file
and results line. Methods present in this checkout but not registered yet (their branch
lands the registration) are registered in this process, and the output says so.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xpm_bench.errors import XpmBenchError
from xpm_bench.evaluation.evaluate import evaluate_file
from xpm_bench.generators import generator_names, register_generator
from xpm_bench.generators.harness import CHECKPOINT_NAME
from xpm_bench.generators.run import run_generation
from xpm_bench.generators.target import MonitorConfig, TargetMonitor
from xpm_bench.io import atomic_write, write_json
from xpm_bench.population import load_population, population_content_hash, save_population
from xpm_bench.sweep.job import FileProgress, JobPaths, read_json, read_state, update_state
from xpm_bench.sweep.report import results_line
from xpm_bench.sweep.spec import Job, load_spec

RESULTS_DIR = Path("benchmarks/results/study")
TARGET_FILE = "target.json"


def register_present(methods: list[str]) -> list[str]:
    """Register, in this process only, generator modules that exist but are not registered."""
    added = []
    for name in methods:
        module = f"xpm_bench.generators.{name.replace('-', '_')}"
        if name not in generator_names() and importlib.util.find_spec(module) is not None:
            register_generator(name, module, "registered by benchmarks.study.run")
            added.append(name)
    return added


def spec_methods(path: Path) -> list[str]:
    import yaml

    return list((yaml.safe_load(path.read_text()) or {}).get("methods") or [])


def results_path(spec_name: str, results_dir: Path = RESULTS_DIR) -> Path:
    return results_dir / f"{spec_name}.jsonl"


def read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@contextlib.contextmanager
def locked(path: Path, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (yields False, without waiting, if ``wait`` is off
    and another process holds it), so several runners can share one grid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_line(path: Path, line: dict[str, Any], lock: Path) -> None:
    """Add (or replace) a job's line in the JSONL file, atomically, sorted by job id, holding
    ``lock`` (a file outside the committed results) against other runners."""
    with locked(lock):
        lines = {old["job"]: old for old in read_lines(path)}
        lines[line["job"]] = line
        text = "".join(json.dumps(lines[k], sort_keys=True) + "\n" for k in sorted(lines))
        atomic_write(path, lambda tmp: tmp.write_text(text))


def code_version() -> str | None:
    """The checkout's commit (with ``+dirty`` for uncommitted changes), for the results line."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "xpm_bench"], capture_output=True, text=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def run_study_job(job: Job, root: Path, monitor_config: MonitorConfig, spec_name: str) -> dict:
    """Generate (monitored, resumable) and evaluate one job; return its results line."""
    paths = JobPaths(root)
    root.mkdir(parents=True, exist_ok=True)
    write_json(paths.job, job.to_dict())
    state = update_state(
        paths, status="running", attempts=read_state(paths).get("attempts", 0) + 1,
        code_version=read_state(paths).get("code_version") or code_version(),
    )  # fmt: skip
    start = time.perf_counter()
    if not paths.population.exists():
        monitor = TargetMonitor(job.env_id, job.pop_size, monitor_config, job.resources.device)
        resume = (paths.run_dir / CHECKPOINT_NAME).exists()
        pop = run_generation(
            job.method, job.env_id, job.pop_size, seed=job.seed, preset=job.preset,
            overrides=job.overrides, run_dir=paths.run_dir, resume=resume,
            device=job.resources.device, threads=job.resources.threads, monitor=monitor,
            progress=FileProgress(paths.progress),
        )  # fmt: skip
        # target first, then the population, then drop the checkpoint: a kill between any two
        # leaves a state this function continues from without losing the checks
        write_json(
            root / TARGET_FILE, {**monitor.state_dict(), "outcome": monitor.outcome().as_dict()}
        )
        save_population(pop, paths.population)
        (paths.run_dir / CHECKPOINT_NAME).unlink(missing_ok=True)
        paths.progress.unlink(missing_ok=True)
        state = update_state(
            paths, generate_s=float(state.get("generate_s") or 0) + time.perf_counter() - start
        )
    if not paths.result.exists():
        t0 = time.perf_counter()
        write_json(
            paths.result,
            evaluate_file(
                paths.population, job.protocol, job.resources.device, threads=job.resources.threads
            ),
        )
        state = update_state(paths, evaluate_s=time.perf_counter() - t0)
    state = update_state(
        paths, status="done", wall_s=float(state.get("wall_s") or 0) + time.perf_counter() - start,
        population_hash=population_content_hash(load_population(paths.population)),
    )  # fmt: skip
    result = read_json(paths.result)
    target = read_json(root / TARGET_FILE)
    return {
        **results_line(job, paths, state),
        "spec": spec_name,
        "code_version": read_state(paths).get("code_version"),
        "xp_matrix": result["xp_matrix"],
        "target": target["outcome"],
        "target_checks": target["checks"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--methods", nargs="*", help="only these methods of the spec")
    parser.add_argument("--pop-sizes", nargs="*", type=int, help="only these M")
    parser.add_argument("--seeds", nargs="*", type=int, help="only these seeds")
    parser.add_argument("--runs", type=Path, default=Path("runs/study"), help="job folders")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    parser.add_argument("--interval", type=int, default=MonitorConfig.interval_env_steps)
    parser.add_argument("--episodes", type=int, default=MonitorConfig.episodes)
    parser.add_argument("--preset", help="override the spec's preset (tests: smoke)")
    args = parser.parse_args(argv)
    try:
        added = register_present(spec_methods(args.spec)) if args.spec.is_file() else []
        for name in added:
            print(f"note: {name!r} is not registered in this checkout; registered in-process")
        spec = load_spec(args.spec)
    except XpmBenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    monitor_config = MonitorConfig(interval_env_steps=args.interval, episodes=args.episodes)
    out = results_path(spec.name, args.results)
    finished = {line["job"] for line in read_lines(out)}
    for job in spec.jobs():
        if args.preset:
            job = Job(**{**job.__dict__, "preset": args.preset})
        if (args.methods and job.method not in args.methods) or (
            args.pop_sizes and job.pop_size not in args.pop_sizes) or (
            args.seeds and job.seed not in args.seeds) or job.id in finished:  # fmt: skip
            continue
        root = args.runs / spec.name / "jobs" / job.id
        with locked(root.parent / f".{job.id}.lock", wait=False) as mine:
            if not mine or job.id in {x["job"] for x in read_lines(out)}:
                print(f"{job.id}: done or running in another runner, skipped", flush=True)
                continue
            print(f"{job.id}: running", flush=True)
            line = run_study_job(job, root, monitor_config, spec.name)
            write_line(out, line, args.runs / ".results.lock")
        t = line["target"]
        verdict = "censored at" if t["censored"] else "met at"
        print(f"{job.id}: done, target {verdict} {t['cost_env_steps']:,} env steps", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
