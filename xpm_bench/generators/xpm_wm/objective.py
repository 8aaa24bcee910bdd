"""The XPM objective's partner weighting and its running cross-play estimates.

J(pi_m) = SP - lambda_xp * sum_j w_j XP_j, XP_j the mean team return of pi_m with frozen pi_j
over both seats. ``w`` is the one-hot of the partner with the highest XP (``max``, LIPO and
CoMeDi's choice: only that partner gets the gradient) or ``softmax(XP / temperature)``.
"""

from __future__ import annotations

from typing import Any

import torch

from xpm_bench.errors import ConfigError
from xpm_bench.generators.xpm_wm.config import XPMObjective
from xpm_bench.rl.streams import Stream

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


def xpm_seating(
    num_envs: int, xp_fraction: float, n_partners: int, device: Any = "cpu"
) -> tuple[Tensor, Tensor, list[tuple[int, int]]]:
    """Seat member m (actor 0) and its frozen partners (actors 1..n) over ``num_envs`` copies.

    Returns ``[B, 2]`` actor per seat, the ``[B]`` XP-copy mask (CPU) and the sorted
    ``(partner, seat of pi_m)`` groups of the XP copies: the last ``xp_fraction`` of the copies
    play XP, spread evenly over every partner and both seats; the rest self-play.
    """
    seats = torch.zeros(num_envs, 2, dtype=torch.int64)
    xp_rows = torch.zeros(num_envs, dtype=torch.bool)
    if n_partners == 0:
        return seats.to(device), xp_rows, []
    n_xp = max(2 * n_partners, round(num_envs * xp_fraction))
    if n_xp >= num_envs:
        raise ConfigError(
            f"{num_envs} env copies leave no self-play copy beside {n_xp} cross-play copies "
            f"({n_partners} partners x 2 seats); raise the number of copies or lower "
            f"xp_env_fraction"
        )
    groups = seat_groups(n_xp, n_partners)
    for i, (j, seat) in enumerate(groups):
        row = num_envs - n_xp + i
        seats[row, 1 - seat] = j + 1
        xp_rows[row] = True
    return seats.to(device), xp_rows, sorted(set(groups))


class XPMObjectiveState:
    """Member m's objective as streams, with the partner weights and the XP gate it updates.

    The stream names and order never change during a member's run (each keeps its critic
    head); only the XP weights do, after every update: ``-lambda_xp * w_j / 2`` per seat
    stream of partner j (0 until the gate opens, see ``xp_gate_sp``).
    """

    def __init__(self, config: XPMObjective, groups: list[tuple[int, int]], n_partners: int):
        self.config, self.groups = config, list(groups)
        self.estimates = XPEstimates(n_partners)
        self.gate_open = config.xp_gate_sp <= 0
        self.recent_sp: list[float] = []

    @property
    def n_partners(self) -> int:
        return int(self.estimates.values.numel())

    def streams(self) -> tuple[Stream, ...]:
        """The objective with the current weights (actor j + 1 is frozen partner j)."""
        cfg = self.config
        weights = partner_weights(self.estimates.values, cfg.partner_selection,
                                  cfg.softmax_temperature)  # fmt: skip
        scale = cfg.lambda_xp if self.gate_open else 0.0
        xp = [Stream(f"xp:{j + 1}:{seat}", -scale * float(weights[j]) / 2.0)
              for j, seat in self.groups]  # fmt: skip
        return (Stream("sp"), *xp)

    def observe(self, episodes: dict[str, Tensor]) -> dict[str, float]:
        """Fold in a rollout's finished episodes (``pair``, ``sparse_return``); returns the
        mean SP return of this batch and the highest XP estimate (NaN where none)."""
        pair, sparse = episodes["pair"], episodes["sparse_return"]
        is_xp = pair[:, 0] != pair[:, 1]
        if bool(is_xp.any()):
            partner = pair[is_xp].max(dim=1).values - 1  # the learner is actor 0
            self.estimates.update(partner, sparse[is_xp])
        is_sp = ~is_xp
        sp = float(sparse[is_sp].mean()) if bool(is_sp.any()) else float("nan")
        if sp == sp:
            self.recent_sp = (self.recent_sp + [sp])[-10:]
        if not self.gate_open and self.recent_sp:
            self.gate_open = sum(self.recent_sp) / len(self.recent_sp) >= self.config.xp_gate_sp
        xp = float(self.estimates.values.max()) if self.n_partners else float("nan")
        return {"sp": sp, "xp": xp}

    def state_dict(self) -> dict[str, Any]:
        return {
            "estimates": self.estimates.state_dict(),
            "gate_open": self.gate_open,
            "recent_sp": list(self.recent_sp),
        }

    def load_state_dict(self, data: dict[str, Any]) -> None:
        self.estimates.load_state_dict(data["estimates"])
        self.gate_open = bool(data["gate_open"])
        self.recent_sp = list(data["recent_sp"])
