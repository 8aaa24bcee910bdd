"""Observation codecs: how the world model reads and reconstructs one seat's observation.

Every registered env's observation is discrete, so a codec turns it into a vector of small
integer *symbols*, each with its own number of classes: the encoder reads their one-hots and
the decoder predicts a categorical per symbol (cross-entropy, and an exact observation back
from the mode). That is the decoder loss suited to both families:

- MPPMR: three symbols, own cell, partner cell and the time step (``t = round(frac * horizon)``);
- Overcooked: one symbol per channel and cell of the lossless ``[26, W, H]`` planes, with as
  many classes as the channel takes values (binary planes 2, ingredient counts 4, cook time
  ``max_cook_time + 1``; larger values are clamped, which no registered layout produces).

Any other env (e.g. a new family) gets :class:`FlatCodec`: the flattened observation, a
unit-variance Gaussian decoder. A codec also knows how one seat's view maps to the other's
(:meth:`Codec.swap_seats`), which the imagined env uses to give each seat its own view.
A codec is rebuilt from :meth:`Codec.spec`, plain data stored with the model.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

Tensor = torch.Tensor


class Codec:
    """Base class: symbols in, symbols out. Subclasses define the symbol mapping."""

    kind: str = ""
    obs_shape: tuple[int, ...]
    obs_dtype: torch.dtype

    def spec(self) -> dict[str, Any]:
        """Plain data that :func:`codec_from_spec` rebuilds this codec from."""
        raise NotImplementedError

    # ---------------------------------------------------------------- sizes
    @property
    def input_dim(self) -> int:
        """Width of the encoder input."""
        return int(sum(self.classes))

    @property
    def output_dim(self) -> int:
        """Width of the decoder output."""
        return int(sum(self.classes))

    classes: list[int]

    # -------------------------------------------------------------- mapping
    def to_symbols(self, obs: Tensor) -> Tensor:
        """``[N, *obs_shape]`` -> ``[N, S]`` int64 symbols."""
        raise NotImplementedError

    def from_symbols(self, symbols: Tensor) -> Tensor:
        """Inverse of :meth:`to_symbols`."""
        raise NotImplementedError

    def swap_seats(self, obs: Tensor) -> Tensor:
        """One seat's ``[N, *obs_shape]`` view -> the other seat's view of the same state."""
        raise NotImplementedError(f"codec {self.kind!r} cannot swap seats")

    # ------------------------------------------------------------ encoding
    def encoder_input(self, obs: Tensor) -> Tensor:
        """``[N, *obs_shape]`` -> ``[N, input_dim]`` float one-hots of the symbols."""
        return self._one_hot(self.to_symbols(obs))

    def _one_hot(self, symbols: Tensor) -> Tensor:
        out = symbols.new_zeros(symbols.shape[0], self.input_dim, dtype=torch.float32)
        out.scatter_(1, symbols + self._offsets.to(symbols.device), 1.0)
        return out

    def nll(self, logits: Tensor, obs: Tensor) -> Tensor:
        """``[N]`` negative log-likelihood of ``obs`` under decoder ``logits [N, output_dim]``."""
        symbols = self.to_symbols(obs)
        total = logits.new_zeros(logits.shape[0])
        for k, index, flat in self._groups(logits.device):
            group = logits[:, flat].view(logits.shape[0], len(index), k)
            target = symbols[:, index]
            total = total + F.cross_entropy(group.transpose(1, 2), target, reduction="none").sum(1)
        return total

    def mode(self, logits: Tensor) -> Tensor:
        """The most likely observation ``[N, *obs_shape]`` under decoder ``logits``."""
        symbols = logits.new_zeros(logits.shape[0], len(self.classes), dtype=torch.int64)
        for k, index, flat in self._groups(logits.device):
            group = logits[:, flat].view(logits.shape[0], len(index), k)
            symbols[:, index] = group.argmax(-1)
        return self.from_symbols(symbols)

    def _finish(self) -> None:
        classes = torch.tensor(self.classes, dtype=torch.int64)
        self._offsets = torch.cumsum(classes, 0) - classes
        self._group_cache: dict[Any, list[tuple[int, Tensor, Tensor]]] = {}

    def _groups(self, device: torch.device) -> list[tuple[int, Tensor, Tensor]]:
        # symbols with the same class count are decoded together: (k, symbol ids, logit ids)
        if device not in self._group_cache:
            groups = []
            classes = torch.tensor(self.classes)
            for k in sorted(set(self.classes)):
                index = torch.nonzero(classes == k).squeeze(1)
                flat = (self._offsets[index].unsqueeze(1) + torch.arange(k)).reshape(-1)
                groups.append((k, index.to(device), flat.to(device)))
            self._group_cache[device] = groups
        return self._group_cache[device]


class MPPMRCodec(Codec):
    """``[own one-hot N, partner one-hot N, t / horizon]`` as (own, partner, t)."""

    kind = "mppmr"
    obs_dtype = torch.float32

    def __init__(self, num_cells: int, horizon: int):
        self.num_cells, self.horizon = int(num_cells), int(horizon)
        self.obs_shape = (2 * self.num_cells + 1,)
        self.classes = [self.num_cells, self.num_cells, self.horizon + 1]
        self._finish()

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "num_cells": self.num_cells, "horizon": self.horizon}

    def to_symbols(self, obs: Tensor) -> Tensor:
        n = self.num_cells
        own = obs[:, :n].argmax(-1)
        partner = obs[:, n : 2 * n].argmax(-1)
        t = torch.round(obs[:, -1].float() * self.horizon).long().clamp(0, self.horizon)
        return torch.stack([own, partner, t], 1)

    def from_symbols(self, symbols: Tensor) -> Tensor:
        n = self.num_cells
        obs = symbols.new_zeros(symbols.shape[0], 2 * n + 1, dtype=torch.float32)
        rows = torch.arange(symbols.shape[0], device=symbols.device)
        obs[rows, symbols[:, 0]] = 1.0
        obs[rows, n + symbols[:, 1]] = 1.0
        obs[:, -1] = symbols[:, 2].float() / self.horizon
        return obs

    def swap_seats(self, obs: Tensor) -> Tensor:
        n = self.num_cells
        return torch.cat([obs[:, n : 2 * n], obs[:, :n], obs[:, 2 * n :]], 1)


# Overcooked lossless channels (xpm_bench.envs.overcooked.encoding): which take counts.
_OVERCOOKED_COUNT_CHANNELS = (16, 17, 18, 19)  # ingredients in soups: 0..3
_OVERCOOKED_COOK_CHANNEL = 20  # cook time remaining: 0..max_cook_time
_OVERCOOKED_SEAT_SWAP = [1, 0, 6, 7, 8, 9, 2, 3, 4, 5, *range(10, 26)]


class OvercookedCodec(Codec):
    """The ``[26, W, H]`` uint8 planes, one categorical symbol per channel and cell."""

    kind = "overcooked"
    obs_dtype = torch.uint8

    def __init__(self, width: int, height: int, max_cook_time: int):
        self.width, self.height, self.max_cook_time = int(width), int(height), int(max_cook_time)
        self.obs_shape = (26, self.width, self.height)
        cells = self.width * self.height
        per_channel = [2] * 26
        for c in _OVERCOOKED_COUNT_CHANNELS:
            per_channel[c] = 4
        per_channel[_OVERCOOKED_COOK_CHANNEL] = self.max_cook_time + 1
        self._levels = torch.tensor(per_channel).repeat_interleave(cells)
        self.classes = self._levels.tolist()
        self._finish()

    def spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "width": self.width,
            "height": self.height,
            "max_cook_time": self.max_cook_time,
        }

    def to_symbols(self, obs: Tensor) -> Tensor:
        flat = obs.reshape(obs.shape[0], -1).long()
        return torch.minimum(flat, self._levels.to(obs.device) - 1).clamp_min(0)

    def from_symbols(self, symbols: Tensor) -> Tensor:
        return symbols.to(torch.uint8).view(symbols.shape[0], *self.obs_shape)

    def swap_seats(self, obs: Tensor) -> Tensor:
        return obs[:, _OVERCOOKED_SEAT_SWAP]


class FlatCodec(Codec):
    """Any observation, flattened; a unit-variance Gaussian decoder (mode = mean)."""

    kind = "flat"

    def __init__(self, obs_shape: list[int] | tuple[int, ...], dtype: str = "float32"):
        self.obs_shape = tuple(int(d) for d in obs_shape)
        self.obs_dtype = getattr(torch, dtype)
        self.classes = []
        self._dim = math.prod(self.obs_shape)

    def spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "obs_shape": list(self.obs_shape),
            "dtype": str(self.obs_dtype).removeprefix("torch."),
        }

    @property
    def input_dim(self) -> int:
        return self._dim

    @property
    def output_dim(self) -> int:
        return self._dim

    def encoder_input(self, obs: Tensor) -> Tensor:
        return obs.reshape(obs.shape[0], -1).float()

    def nll(self, logits: Tensor, obs: Tensor) -> Tensor:
        return 0.5 * (logits - obs.reshape(obs.shape[0], -1).float()).square().sum(1)

    def mode(self, logits: Tensor) -> Tensor:
        return logits.view(logits.shape[0], *self.obs_shape).to(self.obs_dtype)


def codec_for_env(env: Any) -> Codec:
    """The codec of a batched env (by its class), as :mod:`xpm_bench.wm` uses it."""
    from xpm_bench.envs.mppmr import MPPMREnv
    from xpm_bench.envs.overcooked.env import OvercookedEnv

    if isinstance(env, MPPMREnv):
        return MPPMRCodec(env.layout.num_cells, env.horizon)
    if isinstance(env, OvercookedEnv):
        _, width, height = env.observation_shape
        return OvercookedCodec(width, height, env.layout.max_cook_time)
    dtype = str(env.observation_dtype).removeprefix("torch.")
    return FlatCodec(env.observation_shape, dtype)


def codec_from_spec(spec: dict[str, Any]) -> Codec:
    """Rebuild a codec from :meth:`Codec.spec` (raises ``ValueError`` naming a bad kind)."""
    kinds = {"mppmr": MPPMRCodec, "overcooked": OvercookedCodec, "flat": FlatCodec}
    kind = spec.get("kind")
    if kind not in kinds:
        raise ValueError(f"unknown codec kind {kind!r}; accepted: {', '.join(kinds)}")
    return kinds[kind](**{k: v for k, v in spec.items() if k != "kind"})


def mlp(in_dim: int, hidden: int, layers: int, out_dim: int | None = None) -> nn.Sequential:
    """``layers`` x (Linear, LayerNorm, SiLU), then an optional Linear to ``out_dim``
    (DreamerV3's block)."""
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers):
        mods += [nn.Linear(dim, hidden), nn.LayerNorm(hidden), nn.SiLU()]
        dim = hidden
    if out_dim is not None:
        mods.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*mods)
