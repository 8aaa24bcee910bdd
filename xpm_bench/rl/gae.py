"""Generalised advantage estimation over time-major batches, as a parallel scan.

Conventions (one place for all trainers):

- ``continues[t]`` in ``[0, 1]`` is the probability that the episode goes on after step ``t``:
  0 at a real termination, 1 otherwise. World-model rollouts pass a predicted continuation
  (a float), real envs ``1 - terminated``. It discounts both the bootstrap and the advantage
  trace, so a soft termination is a soft cut.
- ``truncated[t]`` marks an episode cut after step ``t`` by a time limit that is *not* part of
  the task (a world-model imagination horizon, a time limit on a task that goes on). The return
  there is ``r + gamma * V(final obs)``: it bootstraps from the value of the observation the
  episode was cut at (``final_values``), not from the next row (which auto-reset made the first
  step of a new episode), and the trace stops there (Pardo et al. 2018, "Time limits in RL").
  Where the horizon *is* part of the task (our real envs: MPPMR observes the time, an
  Overcooked score counts what was delivered within the horizon), the caller passes the
  truncation as a termination instead (``continues`` 0, no ``truncated``).
- The last row of a rollout is cut by the rollout, not the episode: it bootstraps from
  ``last_values`` (the value of the observation after the last step).
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def reverse_linear_scan(deltas: Tensor, decays: Tensor) -> Tensor:
    """``A[t] = deltas[t] + decays[t] * A[t + 1]`` with ``A[T] = 0``, along dim 0.

    A Hillis-Steele scan: ``ceil(log2 T)`` rounds of whole-tensor ops instead of a Python loop
    over time. After round ``k`` each row holds ``A[t] = D[t] + G[t] * A[t + 2**k]``.
    """
    acc, gain = deltas.clone(), decays.clone()
    t_len, span = deltas.shape[0], 1
    while span < t_len:
        acc_next = acc.clone()
        acc_next[:-span] += gain[:-span] * acc[span:]
        gain_next = gain.clone()
        gain_next[:-span] *= gain[span:]
        acc, gain, span = acc_next, gain_next, span * 2
    return acc


def compute_gae(
    rewards: Tensor,
    values: Tensor,
    continues: Tensor,
    last_values: Tensor,
    gamma: float,
    lam: float,
    truncated: Tensor | None = None,
    final_values: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """GAE(gamma, lambda) advantages and value targets; conventions in the module docstring.

    Args:
        rewards: ``[T, N]`` reward after each step.
        values: ``[T, N]`` value of the state each step was taken from.
        continues: ``[T, N]`` float (or bool) probability that the episode continues after
            the step.
        last_values: ``[N]`` value of the observation after the last step.
        truncated: ``[T, N]`` bool, the episode was cut after this step (time limit).
        final_values: ``[T, N]`` value of the observation each truncated episode was cut at
            (read only where ``truncated``).

    Returns:
        ``(advantages, returns)``, both ``[T, N]``, with ``returns = advantages + values``.
    """
    cont = continues.to(rewards.dtype)
    next_values = torch.cat([values[1:], last_values.unsqueeze(0)], dim=0)
    trace = gamma * lam * cont
    if truncated is not None:
        if final_values is None:
            raise ValueError("truncated steps need final_values to bootstrap from")
        next_values = torch.where(truncated, final_values, next_values)
        trace = trace * (~truncated).to(rewards.dtype)
    deltas = rewards + gamma * cont * next_values - values
    advantages = reverse_linear_scan(deltas, trace)
    return advantages, advantages + values
