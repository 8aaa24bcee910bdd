"""Play whole episodes between pairs of policies, many pairs in one batched env.

This is the inner loop of cross-play evaluation: ``P`` pairs x ``n`` episodes become
``P * n`` copies of one batched env, each policy acts once per step on all the rows where it
sits, and every copy's first episode is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from xpm_bench.agents.base import Policy
from xpm_bench.registry import make


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
    """Play ``episodes`` episodes of every ``(seat-0 policy, seat-1 policy)`` pair."""
    n_pairs = len(pairs)
    env = make(env_id, num_envs=n_pairs * episodes, device=device, **(env_kwargs or {}))
    obs, _ = env.reset(seed=seed)
    groups = _rows_by_policy(pairs, episodes, device)
    carries = {key: _initial_carry(policy, len(rows)) for key, (policy, rows) in groups.items()}
    finished = torch.zeros(env.num_envs, dtype=torch.bool, device=env.device)
    returns = torch.zeros(env.num_envs, 2, device=env.device)
    lengths = torch.zeros(env.num_envs, dtype=torch.int64, device=env.device)
    events = torch.zeros(env.num_envs, 2, env.num_events, device=env.device)
    terminated = torch.zeros(env.num_envs, dtype=torch.bool, device=env.device)
    actions = torch.zeros(env.num_envs, 2, dtype=torch.int64, device=env.device)
    while not bool(finished.all()):
        with torch.no_grad():
            for key, (policy, rows) in groups.items():
                seat = key[1]
                act, carries[key] = policy.act(obs[rows, seat], carries[key])
                actions[rows, seat] = act.to(actions.device)
        obs, _, term, trunc, info = env.step(actions)
        newly = (term | trunc) & ~finished
        if bool(newly.any()):
            returns[newly] = info["episode_return"][newly]
            lengths[newly] = info["episode_length"][newly]
            events[newly] = info["episode_events"][newly]
            terminated[newly] = term[newly]
            finished |= newly
    shape = (n_pairs, episodes)
    return EpisodeBatch(
        returns.view(*shape, 2),
        lengths.view(shape),
        events.view(*shape, 2, -1),
        terminated.view(shape),
    )


def _rows_by_policy(
    pairs, episodes: int, device
) -> dict[tuple[int, int], tuple[Policy, torch.Tensor]]:
    """Group copy indices by (policy identity, seat) so each policy acts once per seat per step."""
    rows: dict[tuple[int, int], list[int]] = {}
    policies: dict[int, Policy] = {}
    for p, pair in enumerate(pairs):
        for seat, policy in enumerate(pair):
            policies[id(policy)] = policy
            rows.setdefault((id(policy), seat), []).extend(range(p * episodes, (p + 1) * episodes))
    return {
        key: (policies[key[0]], torch.tensor(r, dtype=torch.int64, device=device))
        for key, r in rows.items()
    }


def _initial_carry(policy: Policy, batch: int) -> Any:
    reset_carry = getattr(policy, "reset_carry", None)
    return reset_carry(batch) if reset_carry else None


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
