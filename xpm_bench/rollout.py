"""Play whole episodes between pairs of policies, many pairs in one batched env.

This is the inner loop of cross-play evaluation: ``P`` pairs x ``n`` episodes become
``P * n`` copies of one batched env on the rollout engine (the one training uses), each policy
acts once per step and seat on all the rows where it sits, and every copy's first episode is
recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from xpm_bench.agents.base import Policy
from xpm_bench.registry import make
from xpm_bench.rl.rollout import play_first_episodes


@dataclass
class EpisodeBatch:
    """Per-episode results for ``P`` pairs x ``n`` episodes.

    Attributes:
        returns: ``[P, n, 2]`` undiscounted return of each seat.
        lengths: ``[P, n]`` episode lengths.
        events: ``[P, n, 2, E]`` event counts of each player over the episode.
        terminated: ``[P, n]`` whether the episode terminated (rather than truncated).
    """

    returns: torch.Tensor
    lengths: torch.Tensor
    events: torch.Tensor
    terminated: torch.Tensor


def play_pairs(
    env_id: str,
    pairs: Sequence[tuple[Policy, Policy]],
    episodes: int = 1,
    seed: int = 0,
    device: str = "cpu",
    env_kwargs: dict[str, Any] | None = None,
) -> EpisodeBatch:
    """Play ``episodes`` episodes of every ``(seat-0 policy, seat-1 policy)`` pair.

    Runs on the rollout engine (:func:`xpm_bench.rl.rollout.play_first_episodes`): each
    distinct (policy, seat) is one actor of the engine, acting through its own ``act`` on all
    the copies where it sits, in order of first appearance.
    """
    n_pairs = len(pairs)
    env = make(env_id, num_envs=n_pairs * episodes, device=device, **(env_kwargs or {}))
    actors, seats = _actors_by_seat(pairs, episodes, env.device)
    played = play_first_episodes(env, seats, actors, seed)
    shape = (n_pairs, episodes)
    return EpisodeBatch(
        played.returns.view(*shape, 2),
        played.lengths.view(shape),
        played.events.view(*shape, 2, -1),
        played.terminated.view(shape),
    )


def _actors_by_seat(
    pairs: Sequence[tuple[Policy, Policy]], episodes: int, device: torch.device
) -> tuple[list[Policy], torch.Tensor]:
    """One engine actor per distinct (policy, seat), in order of first appearance, and the
    ``[P * episodes, 2]`` seating. A policy in both seats is two actors sharing the policy,
    so each seat keeps its own carry and calls, as a per-seat loop would."""
    slot: dict[tuple[int, int], int] = {}
    actors: list[Policy] = []
    seats = torch.zeros(len(pairs), 2, dtype=torch.int64)
    for p, pair in enumerate(pairs):
        for seat, policy in enumerate(pair):
            key = (id(policy), seat)
            if key not in slot:
                slot[key] = len(actors)
                actors.append(policy)
            seats[p, seat] = slot[key]
    return actors, seats.repeat_interleave(episodes, dim=0).to(device)


def cross_play_returns(
    env_id: str,
    policies: Sequence[Policy],
    episodes: int = 1,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
) -> torch.Tensor:
    """``[M, M]`` mean team return with policy ``i`` in seat 0 and policy ``j`` in seat 1."""
    m = len(policies)
    pairs = [(policies[i], policies[j]) for i in range(m) for j in range(m)]
    batch = play_pairs(env_id, pairs, episodes, seed, env_kwargs=env_kwargs)
    return batch.returns[..., 0].mean(dim=1).view(m, m)
