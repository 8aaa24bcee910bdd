"""Prediction heads on RSSM states; every output layer starts at zero (DreamerV3).

- :class:`EventHead`: each player's event vector from ``[h, z_joint, z_player]``. An event
  whose per-step count is at most 1 is a Bernoulli logit; one that can count higher is a
  categorical over ``0..max_count``. Shared weights for both players, told apart by a role
  one-hot (ego, partner).
- :class:`BinaryHead`: the continuation probability (trained on true termination only).
- :class:`TwoHotHead`: a scalar (team reward) as a symlog two-hot categorical (the ablation).
- the partner-action head is a plain categorical MLP (see :mod:`xpm_bench.wm.model`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from xpm_bench.wm.codecs import mlp

Tensor = torch.Tensor


def zero_output(net: nn.Sequential) -> nn.Sequential:
    """Zero the last Linear layer of ``net`` (heads start predicting the neutral value)."""
    last = net[-1]
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return net


class EventHead(nn.Module):
    """Per-player event predictions: Bernoulli or count per event."""

    def __init__(self, in_dim: int, hidden: int, layers: int, max_counts: Sequence[int]):
        super().__init__()
        self.max_counts = [int(k) for k in max_counts]
        self.num_events = len(self.max_counts)
        self.binary = torch.tensor([k <= 1 for k in self.max_counts])
        # output slots: 1 per binary event, max+1 per count event
        self.widths = [1 if k <= 1 else k + 1 for k in self.max_counts]
        self.net = zero_output(mlp(in_dim + 2, hidden, layers, sum(self.widths)))

    def forward(self, views: Tensor) -> Tensor:
        """``[B, 2, in_dim]`` (ego, partner views) -> raw outputs ``[B, 2, sum(widths)]``."""
        role = torch.eye(2, device=views.device).expand(views.shape[0], 2, 2)
        return self.net(torch.cat([views, role], -1))

    def _split(self, raw: Tensor) -> list[Tensor]:
        return list(torch.split(raw, self.widths, dim=-1))

    def loss(self, raw: Tensor, events: Tensor) -> Tensor:
        """Negative log-likelihood summed over events and players: ``[..., 2, E]`` -> ``[...]``."""
        total = raw.new_zeros(raw.shape[:-2])
        for e, (out, k) in enumerate(zip(self._split(raw), self.max_counts, strict=True)):
            target = events[..., e]
            if k <= 1:
                nll = F.binary_cross_entropy_with_logits(
                    out[..., 0], target.clamp(0, 1), reduction="none"
                )
            else:
                index = target.round().long().clamp(0, k)
                nll = -out.log_softmax(-1).gather(-1, index.unsqueeze(-1)).squeeze(-1)
            total = total + nll.sum(-1)
        return total

    def mean(self, raw: Tensor) -> Tensor:
        """Expected event counts ``[..., 2, E]`` (probabilities for binary events)."""
        outs = []
        for out, k in zip(self._split(raw), self.max_counts, strict=True):
            if k <= 1:
                outs.append(out[..., 0].sigmoid())
            else:
                values = torch.arange(k + 1, device=raw.device, dtype=raw.dtype)
                outs.append((out.softmax(-1) * values).sum(-1))
        return torch.stack(outs, -1)

    def mode(self, raw: Tensor) -> Tensor:
        """Most likely event counts ``[..., 2, E]`` (a binary event fires above p = 0.5)."""
        outs = []
        for out, k in zip(self._split(raw), self.max_counts, strict=True):
            outs.append((out[..., 0] > 0).float() if k <= 1 else out.argmax(-1).float())
        return torch.stack(outs, -1)


class BinaryHead(nn.Module):
    """A Bernoulli logit per state (continuation)."""

    def __init__(self, in_dim: int, hidden: int, layers: int):
        super().__init__()
        self.net = zero_output(mlp(in_dim, hidden, layers, 1))

    def forward(self, feat: Tensor) -> Tensor:
        return self.net(feat).squeeze(-1)


def symlog(x: Tensor) -> Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: Tensor) -> Tensor:
    return torch.sign(x) * torch.expm1(x.abs())


class TwoHotHead(nn.Module):
    """A scalar as a categorical over bins evenly spaced in symlog space (DreamerV3)."""

    def __init__(self, in_dim: int, hidden: int, layers: int, bins: int, limit: float = 20.0):
        super().__init__()
        self.register_buffer("bins", torch.linspace(-limit, limit, bins), persistent=False)
        self.net = zero_output(mlp(in_dim, hidden, layers, bins))

    def forward(self, feat: Tensor) -> Tensor:
        return self.net(feat)

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Cross-entropy against the two-hot encoding of ``symlog(target)``."""
        y = symlog(target).clamp(self.bins[0], self.bins[-1])
        above = torch.searchsorted(self.bins, y.contiguous(), right=True).clamp(
            1, len(self.bins) - 1
        )
        below = above - 1
        lo, hi = self.bins[below], self.bins[above]
        w_hi = ((y - lo) / (hi - lo)).clamp(0, 1)
        logp = logits.log_softmax(-1)
        pick = lambda i: logp.gather(-1, i.unsqueeze(-1)).squeeze(-1)  # noqa: E731
        return -((1 - w_hi) * pick(below) + w_hi * pick(above))

    def mean(self, logits: Tensor) -> Tensor:
        """The predicted scalar: ``symexp`` of the expected bin."""
        return symexp((logits.softmax(-1) * self.bins).sum(-1))
