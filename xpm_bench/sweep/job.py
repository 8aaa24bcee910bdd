"""One sweep job on disk: its folder, its state file, and the function that runs it.

A job's folder, ``<sweep dir>/jobs/<job id>/``, holds

- ``job.json``: the job's definition (:class:`~xpm_bench.sweep.spec.Job`);
- ``state.json``: ``status`` (``pending``, ``running``, ``done``, ``failed``,
  ``interrupted``), attempts, the last error, timings (``wall_s`` over all attempts,
  ``generate_s`` and ``evaluate_s`` of the attempts that completed them), where it ran
  (host, pid), the population's content hash, and ``resumed_from_env_steps`` when an
  attempt continued from a checkpoint;
- ``run/``: the generation harness's checkpoint while the population is being generated;
- ``pop.pt``: the population, written once generation is complete;
- ``result.json``: the evaluation result, written once evaluation is complete;
- ``progress.json``: the running job's progress (read by the sweep's progress display);
- ``error.log``: the traceback of the last failure.

Every file is written atomically (:mod:`xpm_bench.io`), so a job killed at any point leaves
files that are either complete or absent. :func:`run_job` skips the phases whose output
exists and resumes generation from ``run/``'s checkpoint, so rerunning a job never redoes (or
recounts) env steps already checkpointed.
"""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xpm_bench.io import write_json
from xpm_bench.sweep.spec import Job

STATUSES = ("pending", "running", "done", "failed", "interrupted")
PROGRESS_INTERVAL_S = 2.0


@dataclass(frozen=True)
class JobPaths:
    """The files of the job whose folder is ``root``."""

    root: Path

    @property
    def job(self) -> Path:
        return self.root / "job.json"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def population(self) -> Path:
        return self.root / "pop.pt"

    @property
    def result(self) -> Path:
        return self.root / "result.json"

    @property
    def progress(self) -> Path:
        return self.root / "progress.json"

    @property
    def error_log(self) -> Path:
        return self.root / "error.log"


def read_json(path: Path, default: Any = None) -> Any:
    """``path`` parsed as JSON, or ``default`` if it does not exist."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


def read_state(paths: JobPaths) -> dict[str, Any]:
    """The job's state (``pending`` with no attempts if it never ran)."""
    return read_json(paths.state, None) or {"status": "pending", "attempts": 0}


def update_state(paths: JobPaths, **changes: Any) -> dict[str, Any]:
    """Write the job's state with ``changes`` applied (atomically) and return it."""
    state = {**read_state(paths), **changes}
    write_json(paths.state, state)
    return state


def read_job(paths: JobPaths) -> Job:
    return Job.from_dict(read_json(paths.job))


# ------------------------------------------------------------------------ running
def run_job(
    job_dir: str, checkpoint_interval_s: float = 60.0, holdout_cache: str | None = None
) -> dict[str, Any]:
    """Generate then evaluate the job in ``job_dir``; return its final state.

    A finished job returns at once. A job whose population exists skips generation; one with
    a checkpoint resumes from it. Exceptions are recorded in ``state.json`` and
    ``error.log`` and raised again (the sweep driver decides about retries). Runs the same in
    the driver process and in a Ray worker: every input is in ``job_dir``.
    """
    import torch

    from xpm_bench.generators.harness import CHECKPOINT_NAME, GenerationInterrupted
    from xpm_bench.generators.run import run_generation

    paths = JobPaths(Path(job_dir))
    job = read_job(paths)
    state = read_state(paths)
    if state["status"] == "done" and paths.result.exists():
        return state
    state = update_state(
        paths,
        status="running",
        attempts=int(state.get("attempts", 0)) + 1,
        error=None,
        host=socket.gethostname(),
        pid=os.getpid(),
        started_at=time.time(),
    )
    threads = torch.get_num_threads()
    start = time.perf_counter()
    try:
        if not paths.population.exists():
            checkpoint = paths.run_dir / CHECKPOINT_NAME
            if checkpoint.exists():
                state = update_state(paths, resumed_from_env_steps=_checkpoint_steps(checkpoint))
            run_generation(
                job.method,
                job.env_id,
                job.pop_size,
                seed=job.seed,
                preset=job.preset,
                overrides=job.overrides,
                output=paths.population,
                run_dir=paths.run_dir,
                resume=checkpoint.exists(),
                device=job.resources.device,
                checkpoint_interval_s=checkpoint_interval_s,
                progress=FileProgress(paths.progress),
                threads=job.resources.threads,
            )
            state = update_state(paths, generate_s=_elapsed(state, "generate_s", start))
        evaluate_start = time.perf_counter()
        if not paths.result.exists():
            torch.set_num_threads(job.resources.threads)
            _evaluate(job, paths, holdout_cache)
            state = update_state(paths, evaluate_s=_elapsed(state, "evaluate_s", evaluate_start))
        return update_state(
            paths,
            status="done",
            population_hash=_content_hash(paths.population),
            wall_s=_elapsed(state, "wall_s", start),
            finished_at=time.time(),
        )
    except (GenerationInterrupted, KeyboardInterrupt):
        update_state(paths, status="interrupted", wall_s=_elapsed(state, "wall_s", start))
        raise
    except BaseException as error:
        record_failure(
            paths, error, traceback.format_exc(), wall_s=_elapsed(state, "wall_s", start)
        )
        raise
    finally:
        torch.set_num_threads(threads)
        paths.progress.unlink(missing_ok=True)


def _evaluate(job: Job, paths: JobPaths, holdout_cache: str | None) -> None:
    from xpm_bench.evaluation.evaluate import evaluate_file

    def progress(message: str) -> None:
        write_json(paths.progress, {"phase": "evaluate", "message": message})

    result = evaluate_file(
        paths.population,
        protocol=job.protocol,
        device=job.resources.device,
        progress=progress,
        holdout_cache=holdout_cache,
    )
    write_json(paths.result, result)


def _elapsed(state: dict[str, Any], key: str, start: float) -> float:
    """``state[key]`` (time spent by earlier attempts) plus the time since ``start``."""
    return float(state.get(key) or 0.0) + time.perf_counter() - start


def _checkpoint_steps(path: Path) -> int:
    """Real env steps already counted in a generation checkpoint's ledger."""
    from xpm_bench.population import safe_torch_load

    return int(safe_torch_load(path, what="checkpoint")["ledger"]["env_steps"])


def _content_hash(path: Path) -> str:
    from xpm_bench.population import load_population, population_content_hash

    return population_content_hash(load_population(path))


def record_failure(
    paths: JobPaths, error: BaseException, trace: str = "", **extra: Any
) -> dict[str, Any]:
    """Mark the job failed with a one-line error (the traceback goes to ``error.log``)."""
    if trace:
        write_text_atomic(paths.error_log, trace)
    return update_state(paths, status="failed", error=one_line_error(error), **extra)


def one_line_error(error: BaseException) -> str:
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__


def write_text_atomic(path: Path, text: str) -> None:
    from xpm_bench.io import atomic_write

    atomic_write(path, lambda tmp: tmp.write_text(text))


class FileProgress:
    """A generation progress sink that writes ``progress.json`` every few seconds, for the
    sweep's progress display to read (the same on one machine and on a cluster with a shared
    file system)."""

    def __init__(self, path: Path, interval_s: float = PROGRESS_INTERVAL_S):
        self.path, self.interval_s = path, interval_s
        self.total, self._last = 0, 0.0

    def start(self, total_steps: int, done_steps: int) -> None:
        self.total = int(total_steps)
        self._write(done_steps, {})

    def update(self, done_steps: int, metrics: dict[str, Any]) -> None:
        if time.monotonic() - self._last >= self.interval_s:
            self._write(done_steps, metrics)

    def stop(self) -> None:
        pass

    def _write(self, done_steps: int, metrics: dict[str, Any]) -> None:
        self._last = time.monotonic()
        info = {"member": metrics.get("member"), "return": metrics.get("return")}
        write_json(
            self.path,
            {"phase": "generate", "done": int(done_steps), "total": self.total, **_finite(info)},
        )


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if isinstance(v, int | float) and v == v}
