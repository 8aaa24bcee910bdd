"""The sweep driver: a spec's jobs into a sweep folder, run by an executor, retried, resumable.

Folder layout (``DIR``)::

    spec.yaml          the spec as given          spec.json   the spec as validated
    invocations.json   one entry per ``sweep run``: executor, wall clock, load average
    jobs/<job id>/     one folder per job (see :mod:`xpm_bench.sweep.job`)

Rerunning the same command skips finished jobs, resumes interrupted ones from their
checkpoints and retries failed ones. A folder can grow: a spec with more seeds or sizes adds
jobs, but a job folder whose definition differs from the spec's job of the same id (another
preset, other overrides) is refused before anything runs. One driver at a time holds the
folder's lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xpm_bench.errors import ConfigError, XpmBenchError
from xpm_bench.io import atomic_write, write_json
from xpm_bench.sweep.job import JobPaths, read_json, read_state, record_failure, run_job
from xpm_bench.sweep.spec import Job, SweepSpec

LOCK_NAME = ".sweep.lock"
DEFAULT_RETRIES = 2


class SweepInterrupted(XpmBenchError):
    """The sweep was stopped by Ctrl-C or SIGTERM; rerunning the command resumes it."""

    exit_code = 130


@dataclass
class SweepOutcome:
    """What one ``sweep run`` did (``wall_s``: from the call to the end, executor start-up
    included)."""

    out_dir: Path
    jobs: list[str]
    ran: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    wall_s: float = 0.0


def job_paths(out_dir: Path, job: Job | str) -> JobPaths:
    return JobPaths(Path(out_dir) / "jobs" / (job if isinstance(job, str) else job.id))


def check_out_dir(out_dir: Path, jobs: list[Job]) -> None:
    """Refuse a folder that is not a sweep folder or holds a different job of the same id."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {str(out_dir)!r} is a file; give a folder")
    others = [p for p in out_dir.iterdir() if p.name != LOCK_NAME] if out_dir.is_dir() else []
    if others and not (out_dir / "spec.json").exists():
        raise ConfigError(f"--out {str(out_dir)!r} is not empty and holds no sweep; choose another")
    for job in jobs:
        stored = read_json(job_paths(out_dir, job).job)
        if stored is not None and stored != job.to_dict():
            differs = next(k for k in job.to_dict() if stored.get(k) != job.to_dict()[k])
            raise ConfigError(
                f"{str(out_dir)!r} already holds job {job.id} with {differs}="
                f"{stored.get(differs)!r}, the spec gives {job.to_dict()[differs]!r}; use "
                f"another --out"
            )


@contextlib.contextmanager
def sweep_lock(out_dir: Path) -> Iterator[None]:
    """Hold the folder's lock, or fail at once if another driver holds it."""
    handle = open(out_dir / LOCK_NAME, "a+")  # noqa: SIM115  held for the whole block
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another `sweep run` is using {str(out_dir)!r}") from None
        yield
    finally:
        handle.close()


def driver_running(out_dir: Path) -> bool:
    """Whether a `sweep run` holds the folder's lock now."""
    path = Path(out_dir) / LOCK_NAME
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def run_sweep(
    spec: SweepSpec,
    out_dir: str | os.PathLike,
    executor: Any,
    retries: int = DEFAULT_RETRIES,
    checkpoint_interval_s: float = 60.0,
    holdout_cache: str | os.PathLike | None = None,
    display: Any = None,
    spec_text: str | None = None,
) -> SweepOutcome:
    """Run every unfinished job of ``spec`` into ``out_dir`` with ``executor``.

    Nothing is written before the folder and the executor are checked (a folder holding other
    jobs, a cluster too small for one job). Holdout sets are built (or loaded) first, so jobs
    running at once never build the same set twice. Jobs go largest population first (which
    shortens the sweep's tail; results do not depend on the order). A job that raises is
    retried ``retries`` times, resuming from its checkpoint, then recorded as failed while the
    others go on.
    """
    if retries < 0:
        raise ConfigError(f"--retries must be >= 0, got {retries}")
    start = time.perf_counter()
    out = Path(out_dir)
    jobs = spec.jobs()
    check_out_dir(out, jobs)
    if all(job_finished(job_paths(out, j)) for j in jobs):  # nothing to run: no executor
        with sweep_lock(out):
            write_sweep_files(out, spec, jobs, spec_text)
        return SweepOutcome(out, [j.id for j in jobs], skipped=[j.id for j in jobs])
    executor.start(spec.resources)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with sweep_lock(out):
            return _run_locked(
                spec, out, jobs, executor, retries, checkpoint_interval_s,
                holdout_cache, display, spec_text, start,
            )  # fmt: skip
    finally:
        executor.shutdown()


def _run_locked(
    spec, out, jobs, executor, retries, checkpoint_interval_s, holdout_cache, display, spec_text,
    start,
) -> SweepOutcome:  # fmt: skip
    write_sweep_files(out, spec, jobs, spec_text)
    cache = prepare_holdouts(spec, holdout_cache, executor, display)
    outcome = SweepOutcome(out, [j.id for j in jobs])
    todo = [j for j in jobs if not job_finished(job_paths(out, j))]
    outcome.skipped = [j.id for j in jobs if j not in todo]
    todo.sort(key=lambda j: -j.pop_size)
    invocation = _invocation_start(executor, todo, outcome.skipped)
    # executor start-up (a Ray cluster) and holdout preparation are part of the sweep's cost
    invocation["startup_s"] = time.perf_counter() - start
    poller = _Poller(display, out, todo, len(outcome.skipped))
    try:
        with poller:
            _drive(out, todo, executor, retries, checkpoint_interval_s, cache, outcome, poller)
    finally:
        outcome.wall_s = time.perf_counter() - start
        _invocation_end(out, invocation, outcome)
    return outcome


def _drive(out, todo, executor, retries, checkpoint_interval_s, cache, outcome, poller) -> None:
    from xpm_bench.generators.harness import GenerationInterrupted

    by_id = {j.id: j for j in todo}
    failures: dict[str, int] = {}

    def submit(job: Job) -> None:
        args = (str(job_paths(out, job).root), checkpoint_interval_s, cache)
        executor.submit(job.id, run_job, args, job.resources)
        if job.id not in outcome.ran:
            outcome.ran.append(job.id)

    for job in todo:
        submit(job)
    try:
        while executor.pending():
            for job_id, error in executor.wait(timeout_s=1.0):
                paths = job_paths(out, job_id)
                if error is None:
                    outcome.done.append(job_id)
                    poller.finished(job_id, read_state(paths))
                    continue
                if isinstance(error, GenerationInterrupted):
                    raise KeyboardInterrupt
                failures[job_id] = failures.get(job_id, 0) + 1
                if failures[job_id] <= retries:
                    poller.retrying(job_id, error, failures[job_id])
                    submit(by_id[job_id])
                else:
                    state = record_failure(paths, error)
                    outcome.failed[job_id] = state["error"]
                    poller.finished(job_id, state)
    except KeyboardInterrupt:
        executor.cancel_all()
        raise SweepInterrupted(
            f"sweep interrupted; {len(outcome.done)} jobs finished in this run, checkpoints "
            f"saved in {str(out)!r}: rerun the same command to resume"
        ) from None


def job_finished(paths: JobPaths) -> bool:
    return read_state(paths).get("status") == "done" and paths.result.exists()


def write_sweep_files(out: Path, spec: SweepSpec, jobs: list[Job], spec_text: str | None) -> None:
    """The spec (as given and as validated) and every new job's definition."""
    write_json(out / "spec.json", spec.to_dict())  # first: it marks the folder as a sweep's
    if spec_text is not None:
        atomic_write(out / "spec.yaml", lambda tmp: tmp.write_text(spec_text))
    for job in jobs:
        paths = job_paths(out, job)
        if not paths.job.exists():
            write_json(paths.job, job.to_dict())


def prepare_holdouts(
    spec: SweepSpec, holdout_cache: str | os.PathLike | None, executor: Any, display: Any
) -> str:
    """Build or load the holdout set of every env under the spec's protocol; return the
    cache folder the jobs read them from."""
    from xpm_bench.evaluation.holdout import build_holdout, default_cache_dir, sequential_map
    from xpm_bench.evaluation.protocol import get_protocol

    cache = Path(holdout_cache) if holdout_cache is not None else default_cache_dir()
    map_fn = sequential_map
    if getattr(executor, "name", "") == "ray":
        from xpm_bench.sweep.executors import ray_map

        map_fn = functools.partial(ray_map, num_cpus=1)
    say = getattr(display, "say", None) or (lambda message: None)
    for env_id in spec.envs:
        tier = get_protocol(env_id, spec.protocol).holdout_tier
        build_holdout(env_id, cache_dir=cache, tier=tier, progress=say, map_fn=map_fn)
    return str(cache.resolve())


# -------------------------------------------------------------------- invocations
def _invocation_start(executor: Any, todo: list[Job], skipped: list[str]) -> dict[str, Any]:
    return {
        "started_at": time.time(),
        "executor": executor.describe(),
        "jobs_to_run": [j.id for j in todo],
        "jobs_skipped": skipped,
        "load_avg_start": list(os.getloadavg()),
        "cpu_count": os.cpu_count(),
    }


def _invocation_end(out: Path, invocation: dict[str, Any], outcome: SweepOutcome) -> None:
    invocation.update(
        finished_at=time.time(),
        wall_s=outcome.wall_s,
        load_avg_end=list(os.getloadavg()),
        jobs_done=list(outcome.done),
        jobs_failed=dict(outcome.failed),
    )
    history = read_json(out / "invocations.json", [])
    write_json(out / "invocations.json", [*history, invocation])


# ------------------------------------------------------------------------ progress
class _Poller:
    """Feeds a display (see :class:`xpm_bench.sweep.progress.SweepProgress`) from the job
    folders once a second, in a background thread; a no-op without a display."""

    def __init__(self, display: Any, out: Path, todo: list[Job], skipped: int):
        self.display, self.out, self.todo = display, out, todo
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if display is not None:
            display.start(total=len(todo) + skipped, done=skipped)

    def __enter__(self) -> _Poller:
        if self.display is not None:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.display is not None:
            self.display.stop()

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            self.poll()

    def poll(self) -> None:
        running = {}
        for job in self.todo:
            paths = job_paths(self.out, job)
            state = read_state(paths)
            if state.get("status") == "running":
                running[job.id] = (job, _progress_of(paths))
        self.display.running(running)

    def finished(self, job_id: str, state: dict[str, Any]) -> None:
        if self.display is not None:
            self.display.finished(job_id, state)

    def retrying(self, job_id: str, error: BaseException, failures: int) -> None:
        if self.display is not None:
            self.display.retrying(job_id, error, failures)


def _progress_of(paths: JobPaths) -> dict[str, Any]:
    try:
        return read_json(paths.progress, {}) or {}
    except ValueError:  # a file being replaced this instant
        return {}
