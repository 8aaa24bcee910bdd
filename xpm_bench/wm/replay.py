"""Replay of real two-player sequences, by kind, for world-model training.

Storage is one ring buffer per *stream* (one env copy) and kind (``sp``, ``xp``, ...); each
record is one observation of both seats with what led to it (the layout of
:mod:`xpm_bench.wm.model`: action, events, continuation, ``is_first``). :class:`Recorder`
writes an env's steps into it: on an auto-reset it writes the episode's final observation
(``info["final_obs"]``, continuation 0 only on true termination) and then the next episode's
first observation with ``is_first`` set, so sequences may cross episode boundaries and the
model restarts where ``is_first`` says.

:meth:`Replay.sample` draws windows of ``seq_len`` consecutive records, optionally oversampling
windows that hold a rare event (a rendezvous, a delivery), and serves each from a random
seat's point of view (ego first), so the ego-centric model learns both seats. Everything,
including the sampling generator, is in :meth:`Replay.state_dict`, so a resumed run samples
exactly what an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

Tensor = torch.Tensor


class _KindBuffer:
    """Ring buffers of ``streams`` x ``capacity`` records of one kind."""

    def __init__(self, streams: int, capacity: int, obs_shape, obs_dtype, num_events: int):
        s, c = streams, capacity
        self.capacity = c
        self.obs = torch.zeros(s, c, 2, *obs_shape, dtype=obs_dtype)
        self.action = torch.zeros(s, c, 2, dtype=torch.int64)
        self.events = torch.zeros(s, c, 2, num_events, dtype=torch.float32)
        self.cont = torch.ones(s, c, dtype=torch.bool)
        self.is_first = torch.zeros(s, c, dtype=torch.bool)
        self.count = torch.zeros(s, dtype=torch.int64)  # records ever written per stream

    FIELDS = ("obs", "action", "events", "cont", "is_first", "count")

    @property
    def streams(self) -> int:
        return self.count.shape[0]

    def append(self, rows: Tensor, obs, action, events, cont, is_first) -> None:
        pos = self.count[rows] % self.capacity
        self.obs[rows, pos] = obs.to(self.obs.dtype)
        self.action[rows, pos] = action
        self.events[rows, pos] = events.float()
        self.cont[rows, pos] = cont
        self.is_first[rows, pos] = is_first
        self.count[rows] += 1

    def chronological(self) -> Tensor:
        """``[S, capacity]`` physical index of each stream's i-th oldest stored record."""
        valid = self.count.clamp(max=self.capacity)
        oldest = self.count - valid
        i = torch.arange(self.capacity)
        return (oldest.unsqueeze(1) + i) % self.capacity

    def valid(self) -> Tensor:
        return self.count.clamp(max=self.capacity)


class Replay:
    """Real sequences by kind; see the module docstring.

    Args:
        obs_shape, obs_dtype: one seat's observation.
        num_events: events per player.
        capacity: records kept per stream (oldest dropped first).
        rare_events: indices of events that make a window "rare" (oversampled).
        rare_boost: sampling weight of a rare window relative to 1.
        seed: seeds the sampling generator.
    """

    def __init__(
        self,
        obs_shape: Sequence[int],
        obs_dtype: torch.dtype,
        num_events: int,
        capacity: int = 4096,
        rare_events: Sequence[int] = (),
        rare_boost: float = 1.0,
        seed: int = 0,
    ):
        self.obs_shape = tuple(int(d) for d in obs_shape)
        self.obs_dtype = obs_dtype
        self.num_events = int(num_events)
        self.capacity = int(capacity)
        self.rare_events = [int(e) for e in rare_events]
        self.rare_boost = float(rare_boost)
        self.buffers: dict[str, _KindBuffer] = {}
        self.generator = torch.Generator().manual_seed(int(seed))

    # -------------------------------------------------------------- writing
    def buffer(self, kind: str, streams: int) -> _KindBuffer:
        """The buffer of ``kind`` (created with ``streams`` streams on first use)."""
        if kind not in self.buffers:
            self.buffers[kind] = _KindBuffer(
                streams, self.capacity, self.obs_shape, self.obs_dtype, self.num_events
            )
        buf = self.buffers[kind]
        if buf.streams != streams:
            raise ValueError(f"replay kind {kind!r} has {buf.streams} streams, got {streams}")
        return buf

    def __len__(self) -> int:
        return int(sum(int(b.valid().sum()) for b in self.buffers.values()))

    def records(self, kind: str | None = None) -> int:
        """Records stored (of one kind, or all)."""
        bufs = [self.buffers[kind]] if kind else list(self.buffers.values())
        return int(sum(int(b.valid().sum()) for b in bufs))

    # ------------------------------------------------------------- sampling
    def sample(
        self, batch_size: int, seq_len: int, kinds: Sequence[str] | None = None
    ) -> dict[str, Tensor]:
        """``batch_size`` windows of ``seq_len`` records, time-major, each from a random seat
        (ego first). Windows holding a rare event are drawn ``rare_boost`` times as often."""
        raw = self._sample_windows(batch_size, seq_len, kinds)
        seats = torch.randint(2, (batch_size,), generator=self.generator)
        return _time_major(_seat_view(raw, seats))

    def sample_both_seats(
        self, batch_size: int, seq_len: int, kinds: Sequence[str] | None = None
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """The same windows seen from seat 0 and from seat 1 (e.g. imagined-env starts)."""
        raw = self._sample_windows(batch_size, seq_len, kinds)
        zeros = torch.zeros(batch_size, dtype=torch.int64)
        return _time_major(_seat_view(raw, zeros)), _time_major(_seat_view(raw, zeros + 1))

    def _sample_windows(
        self, batch_size: int, seq_len: int, kinds: Sequence[str] | None
    ) -> dict[str, Tensor]:
        windows, weights = [], []
        for kind in kinds if kinds is not None else sorted(self.buffers):
            if kind not in self.buffers:
                continue
            starts, w = self._windows(self.buffers[kind], seq_len)
            windows.append((kind, starts))
            weights.append(w)
        total = torch.cat(weights) if weights else torch.zeros(0)
        if total.numel() == 0 or float(total.sum()) <= 0:
            raise ValueError(f"replay holds no window of {seq_len} records yet")
        pick = torch.multinomial(total, batch_size, replacement=True, generator=self.generator)
        parts, order, offset = [], [], 0
        for (kind, starts), w in zip(windows, weights, strict=True):
            idx = torch.nonzero((pick >= offset) & (pick < offset + len(w))).squeeze(1)
            if len(idx):
                parts.append(self._gather(self.buffers[kind], starts[pick[idx] - offset], seq_len))
                order.append(idx)
            offset += len(w)
        batch = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        inverse = torch.argsort(torch.cat(order))
        return {k: v[inverse] for k, v in batch.items()}

    def _windows(self, buf: _KindBuffer, seq_len: int) -> tuple[Tensor, Tensor]:
        """All valid windows ``[W, 2]`` (stream, chronological start) and their weights."""
        valid = buf.valid()
        n_starts = (valid - seq_len + 1).clamp_min(0)
        streams = torch.repeat_interleave(torch.arange(buf.streams), n_starts)
        first = torch.repeat_interleave(torch.cumsum(n_starts, 0) - n_starts, n_starts)
        offsets = torch.arange(int(n_starts.sum())) - first
        starts = torch.stack([streams, offsets], 1)
        weights = torch.ones(len(starts))
        if self.rare_events and self.rare_boost != 1.0 and len(starts):
            chron = buf.chronological()
            rare = buf.events[..., self.rare_events].sum((-1, -2)) > 0  # [S, cap]
            rare = torch.gather(rare, 1, chron).long()
            csum = torch.cat([torch.zeros(buf.streams, 1, dtype=torch.long), rare.cumsum(1)], 1)
            hits = csum[streams, offsets + seq_len] - csum[streams, offsets]
            weights = torch.where(hits > 0, self.rare_boost, 1.0)
        return starts, weights

    def _gather(self, buf: _KindBuffer, starts: Tensor, seq_len: int) -> dict[str, Tensor]:
        chron = buf.chronological()
        s = starts[:, :1]
        steps = starts[:, 1:] + torch.arange(seq_len)
        phys = chron[s, steps]  # [N, T]
        out = {k: getattr(buf, k)[s, phys] for k in ("obs", "action", "events", "cont", "is_first")}
        out["is_first"] = out["is_first"].clone()
        out["is_first"][:, 0] = True  # a window starts from the zero state
        return out

    # ------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs, as tensors and plain values."""
        return {
            "capacity": self.capacity,
            "generator": self.generator.get_state(),
            "kinds": {
                kind: {f: getattr(buf, f).clone() for f in _KindBuffer.FIELDS}
                for kind, buf in self.buffers.items()
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["capacity"]) != self.capacity:
            raise ValueError(f"replay capacity {state['capacity']} != {self.capacity}")
        self.generator.set_state(state["generator"])
        self.buffers = {}
        for kind, fields in state["kinds"].items():
            buf = self.buffer(kind, int(fields["count"].shape[0]))
            for f in _KindBuffer.FIELDS:
                getattr(buf, f).copy_(fields[f])


def _seat_view(batch: dict[str, Tensor], seats: Tensor) -> dict[str, Tensor]:
    """Per sequence, the chosen seat's observation with actions and events ego first."""
    n = seats.shape[0]
    rows = torch.arange(n)
    obs = batch["obs"].transpose(1, 2)[rows, seats]  # [N, 2(seat), T, ...] -> [N, T, ...]
    flip = seats.view(n, 1, 1).bool()
    action = torch.where(flip, batch["action"].flip(-1), batch["action"])
    ev = batch["events"]
    events = torch.where(flip.unsqueeze(-1), ev.flip(-2), ev)
    return {"obs": obs, "action": action, "events": events, "cont": batch["cont"],
            "is_first": batch["is_first"]}  # fmt: skip


def _time_major(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.transpose(0, 1).contiguous() for k, v in batch.items()}


class Recorder:
    """Writes a batched env's steps into a :class:`Replay` under one kind.

    Call :meth:`reset` with the observations of ``env.reset`` and :meth:`step` with what
    every ``env.step`` returned (actions in seat order, as given to the env).
    """

    def __init__(self, replay: Replay, kind: str, num_envs: int):
        self.replay, self.kind, self.num_envs = replay, kind, int(num_envs)
        self.buf = replay.buffer(kind, self.num_envs)
        self._all = torch.arange(self.num_envs)

    def reset(self, obs: Tensor) -> None:
        """Record every copy's first observation."""
        self._write_first(self._all, obs.cpu())

    def step(
        self, actions: Tensor, obs: Tensor, terminated: Tensor, truncated: Tensor, info: dict
    ) -> None:
        """Record one env step; finished copies also get their next episode's first record."""
        obs, terminated = obs.cpu(), terminated.cpu()
        done = terminated | truncated.cpu()
        last = obs
        if bool(done.any()):  # the observation the episode ended on, then the reset one
            mask = done.view(-1, *([1] * (obs.dim() - 1)))
            last = torch.where(mask, info["final_obs"].cpu(), obs)
        no_first = torch.zeros(self.num_envs, dtype=torch.bool)
        self.buf.append(self._all, last, actions.cpu(), info["events"].cpu(), ~terminated, no_first)
        if bool(done.any()):
            rows = torch.nonzero(done).squeeze(1)
            self._write_first(rows, obs[rows])

    def _write_first(self, rows: Tensor, obs: Tensor) -> None:
        n = len(rows)
        self.buf.append(
            rows, obs, torch.zeros(n, 2, dtype=torch.int64),
            torch.zeros(n, 2, self.replay.num_events), torch.ones(n, dtype=torch.bool),
            torch.ones(n, dtype=torch.bool),
        )  # fmt: skip
