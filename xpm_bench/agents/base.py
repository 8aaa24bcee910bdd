"""The policy interface every agent follows, and the simplest agents.

A policy maps one seat's observations to actions with an explicit recurrent carry::

    action, carry = policy.act(obs, carry)    # obs: Tensor[B, *obs_shape] -> action: Tensor[B]

``carry`` is ``None`` for feed-forward and scripted policies. Optional methods: ``reset_carry(batch)``
gives the start-of-episode carry, and ``reseed(seed)`` makes a stochastic policy's future
actions a function of ``seed`` (wrappers call it on ``reset(seed=...)``).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

Tensor = torch.Tensor


@runtime_checkable
class Policy(Protocol):
    """Anything with ``act(obs, carry) -> (action, carry)``."""

    def act(self, obs: Tensor, carry: Any = None) -> tuple[Tensor, Any]: ...


class RandomPolicy:
    """Uniformly random actions; a seeded torch generator keeps it reproducible."""

    def __init__(self, num_actions: int, seed: int = 0, exclude: tuple[int, ...] = ()):
        self.num_actions = num_actions
        self.allowed = torch.tensor([a for a in range(num_actions) if a not in exclude])
        self.generator = torch.Generator().manual_seed(seed)

    def reseed(self, seed: int) -> None:
        self.generator.manual_seed(seed)

    def act(self, obs: Tensor, carry: Any = None) -> tuple[Tensor, Any]:
        idx = torch.randint(len(self.allowed), (obs.shape[0],), generator=self.generator)
        return self.allowed[idx].to(obs.device), carry


class ConstantPolicy:
    """Always the same action (e.g. an idle partner that only stays)."""

    def __init__(self, action: int):
        self.action = action

    def act(self, obs: Tensor, carry: Any = None) -> tuple[Tensor, Any]:
        return torch.full((obs.shape[0],), self.action, dtype=torch.int64, device=obs.device), carry


class CellTablePolicy:
    """A scripted policy: decode the ego cell from a one-hot prefix of the observation, look
    the action up in a table. Used for MPPMR convention agents."""

    def __init__(self, table: np.ndarray | Tensor, num_cells: int, name: str = "table"):
        self.table = torch.as_tensor(table, dtype=torch.int64)
        self.num_cells = num_cells
        self.name = name

    def act(self, obs: Tensor, carry: Any = None) -> tuple[Tensor, Any]:
        cell = obs[..., : self.num_cells].argmax(dim=-1)
        return self.table.to(obs.device)[cell], carry
