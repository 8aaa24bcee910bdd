"""The run harness every generator stands on: metered envs, ledger, checkpoints, resume, progress.

A generator receives a :class:`Harness` as its ``callbacks`` argument and:

- gets every environment from :meth:`Harness.make_env` (a :class:`~xpm_bench.rl.ledger.MeteredEnv`),
  so the harness, not the method, counts every real step in the ledger;
- calls :meth:`Harness.boundary` with a function returning its state at each update boundary;
  the harness decides when to checkpoint (every ``checkpoint_interval_s`` seconds, and at once
  when a stop was requested by Ctrl-C/SIGTERM, after which it raises
  :class:`GenerationInterrupted`);
- on start, reads :attr:`Harness.resume_state` (``None`` for a fresh run) and continues from
  it. Envs made under a name that was checkpointed come back restored (state, observations,
  RNG), flagged by ``env.restored``.

A checkpoint holds the generator's state, every live env's snapshot and the ledger, so a run
resumed from a checkpoint continues exactly as the uninterrupted run would have: same
population, same step counts. Steps taken after the last checkpoint by a process that was
killed are redone, not counted twice.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from xpm_bench.errors import ConfigError, PopulationFileError, XpmBenchError
from xpm_bench.io import atomic_torch_save, safe_torch_load
from xpm_bench.registry import make
from xpm_bench.rl.ledger import Ledger, MeteredEnv

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = "xpm-bench-checkpoint"


class GenerationInterrupted(XpmBenchError):
    """A run stopped by Ctrl-C or SIGTERM after writing a checkpoint (CLI exit code 130)."""

    exit_code = 130


class ProgressSink(Protocol):
    """Receives progress from the harness (the CLI draws it with rich)."""

    def start(self, total_steps: int, done_steps: int) -> None: ...

    def update(self, done_steps: int, metrics: dict[str, Any]) -> None: ...

    def stop(self) -> None: ...


class Harness:
    """Checkpointing, ledger and progress services for one generator run.

    Args:
        ledger: the ledger to count into (a fresh one if None).
        run_dir: where checkpoints go; None disables checkpoints.
        meta: plain description of the run (method, env, config, seed...); a resumed run must
            match the checkpoint's.
        resume: continue from ``run_dir/checkpoint.pt``.
        checkpoint_interval_s: seconds between checkpoints (0: at every update boundary).
        progress: a :class:`ProgressSink`, or None for silence.
        device: torch device for envs and networks.
        monitor: a cost-to-target callback (:class:`~xpm_bench.generators.target.
            TargetMonitor`) called at every update boundary, checkpointed with the run.
    """

    def __init__(
        self,
        ledger: Ledger | None = None,
        run_dir: str | os.PathLike | None = None,
        meta: dict[str, Any] | None = None,
        resume: bool = False,
        checkpoint_interval_s: float = 60.0,
        progress: ProgressSink | None = None,
        device: str = "cpu",
        monitor: Any | None = None,
    ):
        self.monitor = monitor
        self.ledger = ledger if ledger is not None else Ledger()
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.meta = meta or {}
        self.checkpoint_interval_s = float(checkpoint_interval_s)
        self.progress = progress
        self.device = device
        self.resume_state: dict[str, Any] | None = None
        self.checkpoints_written = 0
        self._envs: dict[str, MeteredEnv] = {}
        self._env_snapshots: dict[str, dict[str, Any]] = {}
        self._last_checkpoint = time.monotonic()
        self._stop_requested = False
        self._total_steps = 0
        if resume:
            self._load_checkpoint()
        elif self.checkpoint_path is not None and self.checkpoint_path.exists():
            raise ConfigError(
                f"run dir {str(self.run_dir)!r} already holds a checkpoint; pass --resume to "
                f"continue it or choose another --run-dir"
            )

    # ------------------------------------------------------------------ envs
    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / CHECKPOINT_NAME

    def make_env(
        self, name: str, env_id: str, num_envs: int, kind: str = "sp", **kwargs: Any
    ) -> MeteredEnv:
        """A metered batched env registered under ``name`` (restored if checkpointed)."""
        env = MeteredEnv(
            make(env_id, num_envs=num_envs, device=self.device, **kwargs), self.ledger, kind
        )
        env.restored = False
        snapshot = self._env_snapshots.pop(name, None)
        if snapshot is not None:
            restore_env(env, snapshot)
            env.restored = True
        self._envs[name] = env
        return env

    def close_env(self, name: str) -> None:
        """Forget env ``name`` (it is no longer checkpointed)."""
        self._envs.pop(name, None)

    # -------------------------------------------------------------- progress
    def plan(self, total_env_steps: int) -> None:
        """Tell the harness how many real env steps the whole run will take (for ETA)."""
        self._total_steps = int(total_env_steps)
        if self.progress is not None:
            self.progress.start(self._total_steps, self.ledger.env_steps)

    def report(self, metrics: dict[str, Any]) -> None:
        """Pass per-update metrics (returns, member index...) to the progress display."""
        if self.progress is not None:
            self.progress.update(self.ledger.env_steps, metrics)

    # ----------------------------------------------------------- checkpoints
    def boundary(self, state_fn: Callable[[], dict[str, Any]], force: bool = False) -> None:
        """Called by the generator between updates; checkpoints when due or when stopping."""
        if self.monitor is not None:  # before a checkpoint, so the checkpoint holds its check
            self.monitor.on_boundary(self.ledger, state_fn)
        due = time.monotonic() - self._last_checkpoint >= self.checkpoint_interval_s
        if self.run_dir is not None and (due or force or self._stop_requested):
            self.write_checkpoint(state_fn())
        if self._stop_requested:
            done = f"interrupted after {self.ledger.env_steps:,} env steps"
            if self.run_dir is None:
                raise GenerationInterrupted(f"{done} (no run dir, nothing saved)")
            raise GenerationInterrupted(
                f"{done}; checkpoint saved in {str(self.run_dir)!r}, continue with --resume"
            )

    def write_checkpoint(self, generator_state: dict[str, Any]) -> None:
        """Atomically write the generator state, env snapshots and ledger to the run dir."""
        assert self.checkpoint_path is not None
        data = {
            "format": CHECKPOINT_FORMAT,
            "meta": self.meta,
            "ledger": self.ledger.to_dict(),
            "generator_state": generator_state,
            "envs": {name: snapshot_env(env) for name, env in self._envs.items()},
        }
        if self.monitor is not None:
            data["monitor"] = self.monitor.state_dict()
        # Signals arriving mid-write must not leave a half-renamed file: the write is atomic
        # (temp file + rename) and a stop request is only acted on after it.
        atomic_torch_save(data, self.checkpoint_path)
        self.checkpoints_written += 1
        self._last_checkpoint = time.monotonic()

    def discard_checkpoint(self) -> None:
        """Delete the checkpoint (and the run dir if that leaves it empty)."""
        if self.checkpoint_path is not None and self.checkpoint_path.exists():
            self.checkpoint_path.unlink()
            with contextlib.suppress(OSError):
                self.run_dir.rmdir()

    def _load_checkpoint(self) -> None:
        path = self.checkpoint_path
        if path is None:
            raise ConfigError("--resume needs a run dir")
        if not path.exists():
            raise ConfigError(f"nothing to resume: {str(path)!r} does not exist")
        try:
            data = safe_torch_load(path, what="checkpoint")
        except PopulationFileError as error:
            raise ConfigError(str(error)) from None
        if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
            raise ConfigError(f"{str(path)!r} is not an xpm-bench checkpoint")
        mismatched = [
            key
            for key in sorted(set(self.meta) | set(data["meta"]))
            if key not in ("library_version",) and self.meta.get(key) != data["meta"].get(key)
        ]
        if mismatched:
            key = mismatched[0]
            raise ConfigError(
                f"cannot resume {str(path)!r}: it was started with {key}="
                f"{data['meta'].get(key)!r}, this run has {key}={self.meta.get(key)!r}"
            )
        self.ledger = Ledger.from_dict(data["ledger"])
        self.resume_state = data["generator_state"]
        self._env_snapshots = dict(data["envs"])
        if self.monitor is not None and "monitor" in data:
            self.monitor.load_state_dict(data["monitor"])

    # ---------------------------------------------------------------- signals
    def request_stop(self) -> None:
        """Ask the run to checkpoint and stop at the next boundary."""
        self._stop_requested = True

    @contextlib.contextmanager
    def running(self) -> Iterator[Harness]:
        """Run the wall clock, and turn SIGINT/SIGTERM into a checkpoint-then-stop."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._on_signal)
        self.ledger.start_clock()
        try:
            yield self
        finally:
            self.ledger.stop_clock()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self.progress is not None:
                self.progress.stop()

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._stop_requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self._stop_requested = True


def snapshot_env(env: MeteredEnv) -> dict[str, Any]:
    """Everything needed to continue ``env`` exactly: state tensors, observations, RNG."""
    rng = env.np_random.bit_generator.state
    return {
        "state": env.get_state(),
        "last_obs": env.last_obs,
        "reward_weights": env.reward_weights.clone(),
        "np_random": _rng_to_plain(rng),
        "seed": env.seed,
    }


def restore_env(env: MeteredEnv, snapshot: dict[str, Any]) -> None:
    """Inverse of :func:`snapshot_env`."""
    env.set_state(snapshot["state"])
    env.last_obs = snapshot["last_obs"].to(env.device) if snapshot["last_obs"] is not None else None
    env.set_reward_weights(snapshot["reward_weights"])
    env.env.seed = snapshot["seed"]
    env.env.np_random = np.random.default_rng()
    env.env.np_random.bit_generator.state = _rng_from_plain(snapshot["np_random"])


def _rng_to_plain(state: dict[str, Any]) -> dict[str, Any]:
    # numpy's bit-generator state holds 128-bit ints; store them as decimal strings so the
    # checkpoint stays plain data for weights_only loading.
    def conv(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: conv(v) for k, v in value.items()}
        if isinstance(value, int) and not isinstance(value, bool):
            return {"__int__": str(value)}
        return value

    return conv(state)


def _rng_from_plain(state: dict[str, Any]) -> dict[str, Any]:
    def conv(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"__int__"}:
                return int(value["__int__"])
            return {k: conv(v) for k, v in value.items()}
        return value

    return conv(state)


def configure_determinism(threads: int | None) -> None:
    """Deterministic torch kernels and a fixed thread count, so a seed fixes the result."""
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads is not None:
        torch.set_num_threads(int(threads))
