"""Generalised advantage estimation over time-major batches."""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def compute_gae(
    rewards: Tensor,
    values: Tensor,
    dones: Tensor,
    last_values: Tensor,
    gamma: float,
    lam: float,
) -> tuple[Tensor, Tensor]:
    """GAE(gamma, lambda) advantages and value targets.

    Args:
        rewards: ``[T, N]`` reward after each step.
        values: ``[T, N]`` value estimate of the state each step was taken from.
        dones: ``[T, N]`` bool, the episode ended with this step (no bootstrap across it).
        last_values: ``[N]`` value of the state after the last step.

    Returns:
        ``(advantages, returns)``, both ``[T, N]``, with ``returns = advantages + values``.

    An episode that ends at the horizon is treated like a terminal one: in these fixed-horizon
    games the horizon is part of the task (MPPMR observes the time; Overcooked's score is
    what was delivered within the horizon).
    """
    t_len = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    next_adv = torch.zeros_like(last_values)
    next_value = last_values
    for t in reversed(range(t_len)):
        alive = (~dones[t]).to(rewards.dtype)
        delta = rewards[t] + gamma * next_value * alive - values[t]
        next_adv = delta + gamma * lam * alive * next_adv
        advantages[t] = next_adv
        next_value = values[t]
    return advantages, advantages + values
