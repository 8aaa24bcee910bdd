"""Cooperative Matrix Game (CMG): LIPO's one-step game with K closed-form conventions.

Both players pick one of ``n_conventions`` actions at once. If they pick the same one, ``k``,
both receive ``payoffs[k]``; otherwise both receive 0. The episode ends after that one joint
action (``terminated``: the game is over, so nothing is bootstrapped past it). The observation
is a constant, so a policy is a distribution over conventions and nothing else: every
deterministic policy is a convention, a population of ``M <= K`` distinct conventions has zero
cross-play in good faith, and the optimum of every objective can be written down. This is the
closed-form test bed of LIPO (Charakorn et al., ICLR 2023), used here to test the
cross-play-minimisation generators.

Observation (per seat, float32): ``[1.0]``. Actions: ``convention_0`` ... ``convention_{K-1}``,
then ``stay`` (abstain: never matches, pays 0). LIPO's game has no abstain action; it is here
so that the evaluator's idle partner (which plays ``stay``) exists in every env. It is
dominated, and since the observation is constant a policy cannot keep it for cross-play only,
so it changes no optimum.

Events per player: ``match_{k}`` (both players picked ``k``; fires for both) and ``pick_{k}``
(this player picked ``k``, matched or not: cross-play diagnostics without a rollout of
actions). Sparse reward weights: ``match_{k} = payoffs[k] / 2`` per player, so the team reward
of a match on ``k`` is ``payoffs[k]`` (the same convention as MPPMR's rendezvous).

No numba kernels: a step is a handful of torch ops on ``[B, 2]`` tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from xpm_bench.envs.base import NUM_PLAYERS, BatchedEnv, Tensor
from xpm_bench.errors import EnvArgumentError

HORIZON = 1
NO_ACTION = -1  # ``last_actions`` before the first step of an episode


def cmg_event_names(n_conventions: int) -> list[str]:
    """``match_0..K-1`` then ``pick_0..K-1``."""
    return [f"match_{k}" for k in range(n_conventions)] + [
        f"pick_{k}" for k in range(n_conventions)
    ]


def check_payoffs(n_conventions: int, payoffs: Sequence[float] | None) -> tuple[float, ...]:
    """The payoff of each convention (all 1.0 when ``payoffs`` is None), checked."""
    if not isinstance(n_conventions, int) or isinstance(n_conventions, bool) or n_conventions < 2:
        raise EnvArgumentError(f"n_conventions must be an integer >= 2, got {n_conventions!r}")
    if payoffs is None:
        return (1.0,) * n_conventions
    values = tuple(float(p) for p in payoffs)
    if len(values) != n_conventions:
        raise EnvArgumentError(
            f"payoffs must have one entry per convention ({n_conventions}), got {len(values)}"
        )
    if not all(np.isfinite(values)) or min(values) <= 0:
        raise EnvArgumentError(f"payoffs must be finite and > 0, got {list(values)}")
    return values


class CMGEnv(BatchedEnv):
    """Batched CMG; see the module docstring for the rules."""

    observation_shape = (1,)
    observation_bounds = (0.0, 1.0)
    state_keys = ("last_actions",)

    def __init__(
        self,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        n_conventions: int = 8,
        payoffs: Sequence[float] | None = None,
        reward_weights: str | list[float] | Tensor = "sparse",
        backend: str = "auto",
    ):
        self.payoffs = check_payoffs(n_conventions, payoffs)
        self.n_conventions = n_conventions
        self.num_actions = n_conventions + 1
        self.action_names = (*(f"convention_{k}" for k in range(n_conventions)), "stay")
        self.event_names = cmg_event_names(n_conventions)
        self.reward_sets = {"sparse": [p / 2 for p in self.payoffs] + [0.0] * n_conventions}
        super().__init__(num_envs, device, HORIZON, reward_weights, backend)
        shape = (self.num_envs, NUM_PLAYERS)
        self.last_actions = torch.full(shape, NO_ACTION, dtype=torch.int64, device=self.device)
        self._obs = torch.ones(*shape, 1, device=self.device)

    def set_state(self, state: dict[str, Tensor]) -> None:
        """Restore a snapshot from :meth:`get_state` (actions are checked against K)."""
        last = torch.as_tensor(state.get("last_actions", self.last_actions))
        if last.numel() and (int(last.min()) < NO_ACTION or int(last.max()) >= self.num_actions):
            raise EnvArgumentError(
                f"state['last_actions'] holds values in [{int(last.min())}, {int(last.max())}]; "
                f"accepted: {NO_ACTION} (none yet) to {self.num_actions - 1}"
            )
        super().set_state(state)

    def _reset_where(self, mask: Tensor) -> None:
        self.last_actions[mask] = NO_ACTION

    def _transition(self, actions: Tensor) -> tuple[Tensor, Tensor]:
        k = self.n_conventions
        picked = torch.nn.functional.one_hot(actions, k + 1)[..., :k].float()  # stay: no pick
        matched = (actions[:, 0] == actions[:, 1]).float().view(-1, 1, 1)
        events = torch.cat([picked * matched, picked], dim=2)
        self.last_actions = actions.clone()
        return events, torch.ones(self.num_envs, dtype=torch.bool, device=self.device)

    def _observe(self) -> Tensor:
        return self._obs.clone()

    # --------------------------------------------------------------- render
    def render_ansi(self, index: int = 0) -> str:
        picks = self.last_actions[index].tolist()
        shown = ["-" if a == NO_ACTION else self.action_names[a] for a in picks]
        outcome = ""
        if picks[0] != NO_ACTION:
            met = picks[0] == picks[1] < self.n_conventions
            outcome = f" -> {self.payoffs[picks[0]] if met else 0.0:g}"
        payoffs = " ".join(f"{p:g}" for p in self.payoffs)
        return "\n".join(
            [
                f"CMG: {self.n_conventions} conventions",
                f"payoffs: {payoffs}",
                f"picks: seat 0 = {shown[0]}, seat 1 = {shown[1]}{outcome}",
                f"t={int(self.t[index])}/{self.horizon}",
            ]
        )

    def render_rgb(self, index: int = 0, cell_px: int = 12) -> np.ndarray:
        """The payoff matrix (seat 0 rows, seat 1 columns; brighter pays more), the last
        joint pick outlined."""
        k = self.n_conventions
        top = max(self.payoffs)
        img = np.full((k, k, 3), 40, dtype=np.uint8)
        for c, payoff in enumerate(self.payoffs):
            img[c, c] = (int(80 + 170 * payoff / top), int(60 + 140 * payoff / top), 40)
        img = img.repeat(cell_px, 0).repeat(cell_px, 1)
        a0, a1 = self.last_actions[index].tolist()
        if NO_ACTION < a0 < k and NO_ACTION < a1 < k:
            y, x = a0 * cell_px, a1 * cell_px
            img[y : y + cell_px, [x, x + cell_px - 1]] = (40, 90, 220)
            img[[y, y + cell_px - 1], x : x + cell_px] = (40, 90, 220)
        return img
