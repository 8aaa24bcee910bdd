"""Shared helpers for the benchmark scripts: thread limits, workers, timing, memory, JSON.

Every measurement runs in its own subprocess (a "worker"): the script re-runs itself with
``--worker '<json spec>'`` and the worker prints one JSON line with its result. That keeps
measurements from polluting each other (allocator state, peak memory, torch and XLA thread
pools) and lets each worker report its own peak resident memory (``VmHWM``).

Thread policy, the same for every system: a worker is pinned to ``threads`` CPUs with
``os.sched_setaffinity`` before torch or jax is imported (XLA sizes its CPU thread pool from
the CPUs the process may run on), torch is told ``torch.set_num_threads(threads)``, and the
OpenMP/MKL variables are set to the same number. The default is 2 threads. On a machine
whose cores are busy with other work, 2 threads can be several times slower than 1 (torch's
and XLA's worker threads wait on each other while the OS runs something else); pass
``--threads 1`` there, and read ``machine.load_average_1min`` in the JSON.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_THREADS = 2
RESULT_PREFIX = "BENCH_RESULT "


# ------------------------------------------------------------------ threads and workers
def limit_threads(threads: int) -> None:
    """Pin this process to ``threads`` CPUs and cap OpenMP/MKL pools; call before heavy imports."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    if hasattr(os, "sched_setaffinity"):
        allowed = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(allowed[:threads]))


def set_torch_threads(threads: int) -> None:
    """Give torch ``threads`` intra-op threads and one inter-op thread."""
    import torch

    torch.set_num_threads(threads)
    # Only settable before the first parallel op; harmless to skip if already set.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


def run_worker(script: str | Path, spec: dict[str, Any], timeout_s: float = 600) -> dict[str, Any]:
    """Run ``script --worker <spec>`` in a fresh interpreter and return the result it prints.

    A worker that crashes or prints no result gives ``{"status": "error", "reason": ...}``
    instead of raising, so one broken system does not lose the rest of a run.
    """
    cmd = [sys.executable, str(script), "--worker", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"worker timed out after {timeout_s:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {
        "status": "error",
        "reason": f"worker exited with code {proc.returncode}: {' | '.join(tail)}",
    }


def emit_result(result: dict[str, Any]) -> None:
    """Print a worker's result as the one line :func:`run_worker` looks for."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# ------------------------------------------------------------------ memory
def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (``VmHWM``; ``ru_maxrss`` as a fallback)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


def current_rss_mb() -> float | None:
    """Resident memory of this process now, in MiB (``VmRSS``), or ``None`` if unreadable."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def torch_peak_device_mb(device: str) -> float | None:
    """Peak CUDA memory allocated by torch in MiB, or ``None`` on CPU."""
    import torch

    if not device.startswith("cuda"):
        return None
    return torch.cuda.max_memory_allocated() / (1024.0 * 1024.0)


# ------------------------------------------------------------------ timing
def time_chunks(
    run_chunk: Callable[[int], int],
    min_seconds: float,
    sync: Callable[[], None] | None = None,
    max_chunk: int = 1024,
) -> tuple[int, float]:
    """Call ``run_chunk(n)`` (n loop iterations; returns env steps) until ``min_seconds`` pass.

    The chunk length starts at 1 and doubles while a chunk takes under a twentieth of
    ``min_seconds``, so slow systems are not overshot and fast ones are not dominated by
    clock reads. ``sync`` (e.g. ``torch.cuda.synchronize``) runs after each chunk, before
    the clock is read, so queued device work is counted. Returns ``(steps, seconds)``.
    """
    steps = 0
    chunk = 1
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < min_seconds:
        chunk_start = time.perf_counter()
        steps += run_chunk(chunk)
        if sync is not None:
            sync()
        now = time.perf_counter()
        elapsed = now - start
        if now - chunk_start < min_seconds / 20 and chunk < max_chunk:
            chunk *= 2
    return steps, elapsed


def time_torch_env_steps(
    env: Any,
    actions: Any,
    warmup_steps: int,
    min_seconds: float,
) -> dict[str, Any]:
    """Steps/s of a batched torch env stepped with pre-generated ``actions[N, B, 2]``.

    One step of ``B`` copies counts as ``B`` env steps. Observations are produced by
    ``env.step`` itself, so they are always included.
    """
    import torch

    device = env.device
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    n_sets = actions.shape[0]
    counter = {"i": 0}

    def run_chunk(n: int) -> int:
        for _ in range(n):
            env.step(actions[counter["i"] % n_sets])
            counter["i"] += 1
        return n * env.num_envs

    env.reset(seed=0)
    for i in range(warmup_steps):
        env.step(actions[i % n_sets])
    if sync is not None:
        sync()
    steps, seconds = time_chunks(run_chunk, min_seconds, sync=sync)
    return {"steps": steps, "seconds": seconds, "steps_per_s": steps / seconds}


# ------------------------------------------------------------------ machine info and JSON
def package_version(name: str) -> str | None:
    """Installed version of a distribution, without importing it; ``None`` if absent."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info(device: str, threads: int) -> dict[str, Any]:
    """What a reader needs to compare numbers across machines."""
    info: dict[str, Any] = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "threads_per_worker": threads,
        # 1-minute load average when the report is written: above the CPU count, other
        # processes competed for the cores and the numbers are pessimistic.
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "device": device,
        "versions": {
            name: package_version(name)
            for name in ("torch", "numpy", "jax", "jaxlib", "jaxmarl", "overcooked-ai")
        },
    }
    if device.startswith("cuda"):
        import torch

        info["device_name"] = torch.cuda.get_device_name(torch.device(device))
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def now_iso() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def write_json(path: str | Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as indented JSON via a temp file and rename (no partial files)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def parse_int_list(text: str) -> list[int]:
    """``"1,64,1024"`` -> ``[1, 64, 1024]``; every entry must be a positive integer."""
    values = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise ValueError(f"expected comma-separated positive integers, got {text!r}")
        values.append(int(part))
    return values


def fmt_rate(value: float | None) -> str:
    """Steps/s for a table: ``1.23M``, ``45.6k``, or ``n/a``."""
    if value is None:
        return "n/a"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def fmt_mb(value: float | None) -> str:
    """MiB for a table, or ``n/a``."""
    return "n/a" if value is None else f"{value:.0f}"


# ------------------------------------------------------------------ the torch-env worker
def measure_torch_env(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker body: steps/s of ``xpm_bench.make(spec["env_id"], num_envs=B)`` with random actions.

    ``spec`` keys: ``env_id``, ``batch_size``, ``device``, ``threads``, ``min_seconds``,
    ``warmup_steps``, ``seed``, optional ``backend`` (the env's engine backend, default
    ``auto``) and ``skip_obs`` (a diagnostic: the env's observation encoder is replaced by
    returning one fixed buffer). Actions are drawn up front on the
    device (64 sets, reused cyclically) so action sampling is not timed.
    """
    set_torch_threads(spec["threads"])
    import torch

    import xpm_bench
    from xpm_bench.errors import UnknownEnvError

    device = spec["device"]
    if device.startswith("cuda") and not torch.cuda.is_available():
        return {"status": "not available", "reason": "torch has no CUDA device here"}
    batch = spec["batch_size"]
    rss_before_env = current_rss_mb()
    try:
        env = xpm_bench.make(spec["env_id"], num_envs=batch, device=device, **backend_kwargs(spec))
    except UnknownEnvError as exc:
        return {"status": "not available", "reason": str(exc)}
    if spec.get("skip_obs"):
        fixed_obs = env.reset(seed=spec["seed"])[0].clone()
        env._observe = lambda: fixed_obs
    generator = torch.Generator(device=device).manual_seed(spec["seed"])
    actions = torch.randint(0, env.num_actions, (64, batch, 2), generator=generator, device=device)
    timing = time_torch_env_steps(
        env,
        actions,
        warmup_steps=spec["warmup_steps"],
        min_seconds=spec["min_seconds"],
    )
    return {
        "status": "ok",
        **timing,
        "observation_shape": list(env.observation_shape),
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_env_mb": rss_before_env,
        "peak_device_mb": torch_peak_device_mb(device),
    }


def backend_kwargs(spec: dict[str, Any]) -> dict[str, Any]:
    """``{"backend": ...}`` when the spec names an engine backend, else nothing."""
    return {"backend": spec["backend"]} if spec.get("backend") else {}


def point_summary(result: dict[str, Any]) -> str:
    """One progress line for a measured point: its rate and peak memory, or why it is missing."""
    if result.get("status") != "ok":
        return f"{result.get('status')}: {result.get('reason', '')}"
    return (
        f"{fmt_rate(result['steps_per_s'])} steps/s, "
        f"peak RSS {fmt_mb(result.get('peak_rss_mb'))} MiB"
    )
