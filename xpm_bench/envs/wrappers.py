"""Standard single-copy views of a batched env: PettingZoo ``ParallelEnv`` and a
single-agent Gymnasium ``Env`` whose other seat is played by a fixed partner.

Both step one copy, so their cost is per-step overhead: they pass actions as a numpy array
(the numba backend reads it without conversion) and read each output tensor once as numpy
(a view on CPU), then index numpy rather than tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from pettingzoo import ParallelEnv

from xpm_bench.envs.base import BatchedEnv
from xpm_bench.errors import EnvArgumentError

AGENTS = ("player_0", "player_1")


def observation_space(env: BatchedEnv) -> spaces.Box:
    """The Box space of one seat's observation (bounds from the observation dtype)."""
    dtype = torch.empty(0, dtype=env.observation_dtype).numpy().dtype
    if env.observation_bounds is not None:
        low, high = env.observation_bounds
        return spaces.Box(low, high, shape=env.observation_shape, dtype=dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return spaces.Box(info.min, info.max, shape=env.observation_shape, dtype=dtype)
    return spaces.Box(-np.inf, np.inf, shape=env.observation_shape, dtype=dtype)


class ParallelView(ParallelEnv):
    """PettingZoo ``ParallelEnv`` over one copy of a batched env (numpy in, numpy out)."""

    def __init__(self, env: BatchedEnv, render_mode: str | None = None):
        if env.num_envs != 1:
            raise EnvArgumentError(f"ParallelView needs num_envs=1, got {env.num_envs}")
        self.env = env
        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        self.render_mode = render_mode
        self.metadata = {
            "name": env.env_id or type(env).__name__,
            "render_modes": ["ansi", "rgb_array"],
            "is_parallelizable": True,
        }
        self._obs_space = observation_space(env)
        self._act_space = spaces.Discrete(env.num_actions)

    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_space

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, _ = self.env.reset(seed=seed)
        self.agents = list(AGENTS)
        return self._split(obs[0]), {agent: {} for agent in self.agents}

    def step(self, actions: dict[str, int]):
        joint = np.array([[actions[AGENTS[0]], actions[AGENTS[1]]]], dtype=np.int64)
        obs, reward, term, trunc, info = self.env.step(joint)
        terminated, truncated = bool(to_numpy(term)[0]), bool(to_numpy(trunc)[0])
        done = terminated or truncated
        last = to_numpy(info["final_obs"] if done else obs)[0]
        events = to_numpy(info["events"])[0]
        r = to_numpy(reward)[0]
        a0, a1 = AGENTS
        if done:
            self.agents = []
        return (
            {a0: last[0], a1: last[1]},
            {a0: float(r[0]), a1: float(r[1])},
            {a0: terminated, a1: terminated},
            {a0: truncated, a1: truncated},
            {a0: {"events": events[0]}, a1: {"events": events[1]}},
        )

    def render(self) -> str | np.ndarray | None:
        if self.render_mode is None:
            return None
        return self.env.render(self.render_mode)

    def state(self) -> np.ndarray:
        return self.env._observe()[0, 0].cpu().numpy()

    def close(self) -> None:
        self.env.close()

    def _split(self, obs: torch.Tensor) -> dict[str, np.ndarray]:
        both = to_numpy(obs)
        return {a: both[i] for i, a in enumerate(AGENTS)}


class SingleAgentView(gymnasium.Env):
    """Gymnasium ``Env`` for one seat; the other seat is played by ``partner``.

    ``partner`` is a policy (``act(obs, carry)``), a sequence of policies, or anything with a
    ``policies()`` method (a population); with several, one is drawn per episode from the
    env's ``np_random``. ``seat`` is 0, 1 or ``"random"`` (drawn per episode).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"]}

    def __init__(
        self, env: BatchedEnv, partner: Any, seat: int | str = 0, render_mode: str | None = None
    ):
        if env.num_envs != 1:
            raise EnvArgumentError(f"SingleAgentView needs num_envs=1, got {env.num_envs}")
        if seat not in (0, 1, "random"):
            raise EnvArgumentError(f"seat must be 0, 1 or 'random', got {seat!r}")
        self.env = env
        self.partners = as_policy_list(partner)
        self.seat_choice = seat
        self.render_mode = render_mode
        self.observation_space = observation_space(env)
        self.action_space = spaces.Discrete(env.num_actions)
        self.seat = 0 if seat == "random" else int(seat)
        self._partner = self.partners[0]
        self._carry: Any = None
        self._obs: torch.Tensor | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, _ = self.env.reset(seed=seed)
        if seed is not None:  # stochastic partners replay the same actions for the same seed
            for i, partner in enumerate(self.partners):
                if hasattr(partner, "reseed"):
                    partner.reseed(seed + i)
        self._start_episode()
        self._obs = obs
        return to_numpy(obs)[0, self.seat], {"seat": self.seat}

    def step(self, action: int):
        seat, partner_seat = self.seat, 1 - self.seat
        partner_action, self._carry = self._partner.act(self._obs[:, partner_seat], self._carry)
        joint = np.empty((1, 2), dtype=np.int64)
        joint[0, seat] = action
        joint[0, partner_seat] = partner_action[0]
        obs, reward, term, trunc, info = self.env.step(joint)
        terminated, truncated = bool(to_numpy(term)[0]), bool(to_numpy(trunc)[0])
        last = info["final_obs"] if terminated or truncated else obs
        self._obs = obs
        step_info = {"events": to_numpy(info["events"])[0, seat], "seat": seat}
        return (
            to_numpy(last)[0, seat],
            float(to_numpy(reward)[0, seat]),
            terminated,
            truncated,
            step_info,
        )

    def render(self):
        if self.render_mode is None:
            return None
        return self.env.render(self.render_mode)

    def _start_episode(self) -> None:
        if self.seat_choice == "random":
            self.seat = int(self.np_random.integers(2))
        self._partner = self.partners[int(self.np_random.integers(len(self.partners)))]
        reset_carry = getattr(self._partner, "reset_carry", None)
        self._carry = reset_carry(1) if reset_carry else None


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """The tensor as numpy: a view of a CPU tensor, a copy of one on another device."""
    return tensor.numpy() if tensor.is_cpu else tensor.cpu().numpy()


def as_policy_list(partner: Any) -> list[Any]:
    """``partner`` (a policy, a non-empty list of them, or a population) as a list of policies."""
    if hasattr(partner, "policies"):
        partner = partner.policies()
    if hasattr(partner, "act"):
        return [partner]
    if isinstance(partner, Sequence) and partner and all(hasattr(p, "act") for p in partner):
        return list(partner)
    raise EnvArgumentError(
        "partner must be a policy with act(obs, carry), a non-empty list of them, or a population"
    )
