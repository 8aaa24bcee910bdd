"""The sample-cost ledger: every real environment step a generator takes, by kind.

One step of one env copy counts 1. Kinds: ``sp`` (self-play: both seats the same agent),
``xp`` (cross-play: two different agents), ``mp`` (mixed play: a seat switched between
agents inside an episode, as in CoMeDi). Imagined (world-model) steps are counted apart,
by the same kinds (``imagined_steps_by_kind``; counted by :class:`xpm_bench.wm.imagined_env.
ImaginedEnv`). Ledgers written before that split read back with their imagined total under
``"unsplit"``.

Generators never report counts themselves: they step environments obtained from the harness
(:class:`MeteredEnv`), which adds ``num_envs`` steps to the ledger on every ``step`` call under
the kind(s) currently set on the env.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from xpm_bench.envs.base import BatchedEnv

KINDS = ("sp", "xp", "mp")


@dataclass
class Ledger:
    """Counts of real and imagined steps plus wall-clock time spent generating.

    ``wall_clock_s`` accumulates across resumed runs: it is the time the harness actually
    spent, not the time since the first start.
    """

    env_steps: int = 0
    env_steps_by_kind: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    imagined_steps: int = 0
    imagined_steps_by_kind: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    wall_clock_s: float = 0.0
    _clock_start: float | None = field(default=None, repr=False, compare=False)

    def count(self, kind: str, steps: int) -> None:
        """Add ``steps`` real env steps of ``kind``."""
        if kind not in KINDS:
            raise ValueError(f"unknown step kind {kind!r}; accepted: {', '.join(KINDS)}")
        self.env_steps += int(steps)
        self.env_steps_by_kind[kind] = self.env_steps_by_kind.get(kind, 0) + int(steps)

    def count_imagined(self, steps: int, kind: str = "sp") -> None:
        """Add ``steps`` imagined (world-model) steps of ``kind``: one step of one imagined
        trajectory counts 1."""
        if kind not in KINDS:
            raise ValueError(f"unknown step kind {kind!r}; accepted: {', '.join(KINDS)}")
        self.imagined_steps += int(steps)
        by_kind = self.imagined_steps_by_kind
        by_kind[kind] = by_kind.get(kind, 0) + int(steps)

    def start_clock(self) -> None:
        """Start timing (idempotent)."""
        if self._clock_start is None:
            self._clock_start = time.perf_counter()

    def stop_clock(self) -> None:
        """Fold the time since :meth:`start_clock` into ``wall_clock_s``."""
        if self._clock_start is not None:
            self.wall_clock_s += time.perf_counter() - self._clock_start
            self._clock_start = None

    def elapsed(self) -> float:
        """``wall_clock_s`` including a running clock."""
        running = time.perf_counter() - self._clock_start if self._clock_start else 0.0
        return self.wall_clock_s + running

    def to_dict(self) -> dict[str, Any]:
        """The plain-dict form stored in population files and checkpoints."""
        return {
            "env_steps": int(self.env_steps),
            "env_steps_by_kind": {k: int(v) for k, v in self.env_steps_by_kind.items()},
            "imagined_steps": int(self.imagined_steps),
            "imagined_steps_by_kind": {k: int(v) for k, v in self.imagined_steps_by_kind.items()},
            "wall_clock_s": float(self.elapsed()),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ledger:
        """Inverse of :meth:`to_dict`."""
        by_kind = dict.fromkeys(KINDS, 0)
        by_kind.update({str(k): int(v) for k, v in data.get("env_steps_by_kind", {}).items()})
        imagined = int(data.get("imagined_steps", 0))
        return cls(
            env_steps=int(data.get("env_steps", 0)),
            env_steps_by_kind=by_kind,
            imagined_steps=imagined,
            imagined_steps_by_kind=_imagined_by_kind(data, imagined),
            wall_clock_s=float(data.get("wall_clock_s", 0.0)),
        )


def _imagined_by_kind(data: dict[str, Any], total: int) -> dict[str, int]:
    # files from before the split hold only the total: keep it, marked as unsplit
    by_kind = dict.fromkeys(KINDS, 0)
    if "imagined_steps_by_kind" in data:
        by_kind.update({str(k): int(v) for k, v in data["imagined_steps_by_kind"].items()})
    elif total:
        by_kind["unsplit"] = total
    return by_kind


class MeteredEnv:
    """A batched env whose every ``step`` is written to a :class:`Ledger`.

    The kind of each copy's steps is set with :meth:`set_kind`: one kind for all copies, or a
    per-copy sequence/tensor of kind names or indices into :data:`KINDS`. Everything else is
    forwarded to the wrapped env.
    """

    def __init__(self, env: BatchedEnv, ledger: Ledger, kind: str = "sp"):
        self.env = env
        self.ledger = ledger
        self.last_obs: torch.Tensor | None = None
        self.set_kind(kind)

    def set_kind(self, kind: str | Sequence[str] | torch.Tensor) -> None:
        """Set the kind charged for each copy's steps from now on."""
        if isinstance(kind, str):
            if kind not in KINDS:
                raise ValueError(f"unknown step kind {kind!r}; accepted: {', '.join(KINDS)}")
            self._kind_counts = {kind: self.env.num_envs}
            return
        if isinstance(kind, torch.Tensor):
            idx = kind.to("cpu", torch.int64)
        else:
            idx = torch.tensor([KINDS.index(k) for k in kind], dtype=torch.int64)
        if idx.shape != (self.env.num_envs,):
            raise ValueError(f"per-copy kinds must have length {self.env.num_envs}")
        counts = torch.bincount(idx, minlength=len(KINDS)).tolist()
        self._kind_counts = {KINDS[i]: c for i, c in enumerate(counts) if c}

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.last_obs = obs
        return obs, info

    def step(self, actions: torch.Tensor):
        out = self.env.step(actions)
        for kind, n in self._kind_counts.items():
            self.ledger.count(kind, n)
        self.last_obs = out[0]
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)
