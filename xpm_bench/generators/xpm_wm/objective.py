"""The XPM objective's partner weighting and its running cross-play estimates.

J(pi_m) = SP - lambda_xp * sum_j w_j XP_j, XP_j the mean team return of pi_m with frozen pi_j
over both seats. ``w`` is the one-hot of the partner with the highest XP (``max``, LIPO and
CoMeDi's choice: only that partner gets the gradient) or ``softmax(XP / temperature)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

Tensor = torch.Tensor


def partner_weights(xp_returns: Tensor, selection: str, temperature: float = 0.1) -> Tensor:
    """Weights ``w`` ``[J]`` (summing to 1) over the frozen partners, from their XP returns.

    ``max`` breaks ties towards the lowest index, so the choice is deterministic.
    """
    if xp_returns.numel() == 0:
        return xp_returns.clone()
    if selection == "max":
        weights = torch.zeros_like(xp_returns)
        weights[int(torch.argmax(xp_returns))] = 1.0
        return weights
    if selection == "softmax":
        return torch.softmax(xp_returns / temperature, dim=0)
    raise ValueError(f"unknown partner selection {selection!r}; accepted: max, softmax")


class XPEstimates:
    """Running mean XP return per frozen partner (both seats pooled), for partner selection.

    Each update blends in the mean of the partner's episodes that finished in it with weight
    ``rate``; a partner with no finished episode keeps its estimate. Unseen partners start
    at ``initial`` (optimistic: a partner never measured is treated as compatible).
    """

    def __init__(self, n_partners: int, rate: float = 0.5, initial: float = 1.0):
        self.values = torch.full((n_partners,), float(initial))
        self.seen = torch.zeros(n_partners, dtype=torch.bool)
        self.rate = float(rate)

    def update(self, partner: Tensor, returns: Tensor) -> None:
        """Fold in finished XP episodes: ``partner`` ``[n]`` indices, ``returns`` ``[n]``."""
        partner, returns = partner.cpu(), returns.float().cpu()
        for j in partner.unique().tolist():
            mean = float(returns[partner == j].mean())
            if self.seen[j]:
                self.values[j] = (1 - self.rate) * self.values[j] + self.rate * mean
            else:
                self.values[j], self.seen[j] = mean, True

    def state_dict(self) -> dict[str, Any]:
        return {"values": self.values.clone(), "seen": self.seen.clone(), "rate": self.rate}

    def load_state_dict(self, data: dict[str, Any]) -> None:
        self.values = data["values"].clone()
        self.seen = data["seen"].clone()
        self.rate = float(data["rate"])


def seat_groups(n_copies: int, n_partners: int) -> list[tuple[int, int]]:
    """Split ``n_copies`` XP copies evenly over ``(partner, seat of pi_m)`` groups.

    Returns one ``(partner, seat)`` per copy, cycling partner-major, so every group gets
    ``n_copies // (2 * n_partners)`` copies or one more.
    """
    groups = [(j, s) for j in range(n_partners) for s in (0, 1)]
    return [groups[i % len(groups)] for i in range(n_copies)]


def mean_by_group(values: Tensor, groups: Tensor, n_groups: int) -> tuple[Tensor, Tensor]:
    """Mean of ``values`` per group index in ``groups`` and the per-group counts."""
    sums = torch.zeros(n_groups).index_add_(0, groups.cpu(), values.float().cpu())
    counts = torch.bincount(groups.cpu(), minlength=n_groups)
    return sums / counts.clamp(min=1), counts


def pooled(values: Sequence[float]) -> float:
    """Mean of a non-empty sequence, NaN when empty (progress display)."""
    return sum(values) / len(values) if values else float("nan")
