"""A Gymnasium ``VectorEnv`` over the batched engine: one ego seat per copy, the other seat
played by a partner inside the batch.

``xpm_bench.make_vec(env_id, num_envs, partner=..., seat=...)`` returns a :class:`VectorView`:
``num_envs`` copies stepped by one batched ``env.step``, so single-agent libraries train an
ego at batched speed. The partner is a policy, a list of policies or a population; with
several, every episode of every copy draws one (uniformly, from the view's ``np_random``) and
each policy acts once per step on all the copies it plays in. ``seat`` is 0, 1 or
``"random"`` (drawn per episode of each copy). Recurrent partners keep one carry per copy,
reset at each of its episodes.

Autoreset: **same-step** (Gymnasium's ``AutoresetMode.SAME_STEP``, in
``metadata["autoreset_mode"]``), as the batched engine itself resets: on the step a copy's
episode ends, ``terminations``/``truncations`` say so, the returned observation is already the
first one of its next episode, and ``infos["final_obs"]`` holds the observation the episode
ended on (rows valid where ``infos["_final_obs"]``), with ``infos["final_info"]``
(``episode_return``, ``episode_length``, ``seat``, ``partner``, each with its ``_``-mask)
describing the finished episode. Unlike Gymnasium's own vector envs, ``final_obs`` is one dense
array ``[B, *obs_shape]`` rather than an object array of rows (``final_obs[i]`` reads the same;
filling an object array row by row cost as much as the env step at 1,024 copies). Every step's ``infos`` also has
``events`` ``[B, E]`` (the ego's event counts this step), ``seat`` and ``partner`` (of the
episode each returned observation belongs to).

Seeding: ``reset(seed=s)`` seeds the batched env with ``s``, the seat and partner draws with
``s``, and every stochastic partner ``i`` with ``s + 1 + i``, so a seed fixes the whole run.

For Stable-Baselines3, whose algorithms take their own ``VecEnv`` class, wrap the view with
:func:`xpm_bench.envs.sb3.to_sb3`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from xpm_bench.envs.base import BatchedEnv
from xpm_bench.envs.wrappers import as_policy_list, observation_space
from xpm_bench.errors import ActionError, EnvArgumentError

Tensor = torch.Tensor


class VectorView(VectorEnv):
    """``num_envs`` copies of a batched env, ego in one seat, partners in the other; see the
    module docstring."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, env: BatchedEnv, partner: Any, seat: int | str = 0):
        if seat not in (0, 1, "random"):
            raise EnvArgumentError(f"seat must be 0, 1 or 'random', got {seat!r}")
        self.env = env
        self.num_envs = env.num_envs
        self.partners = as_policy_list(partner)
        self.seat_choice = seat
        self.single_observation_space = observation_space(env)
        self.single_action_space = spaces.Discrete(env.num_actions)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        device = env.device
        self._rows = torch.arange(self.num_envs, device=device)
        self.seat = torch.zeros(self.num_envs, dtype=torch.int64, device=device)
        self.partner_index = torch.zeros(self.num_envs, dtype=torch.int64, device=device)
        self._carries: list[Tensor | None] = [_fresh_carry(p, self.num_envs) for p in self.partners]
        self._joint = torch.zeros(self.num_envs, 2, dtype=torch.int64, device=device)
        self._obs: Tensor | None = None

    # ------------------------------------------------------------------ API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seed)
            for i, partner in enumerate(self.partners):
                if hasattr(partner, "reseed"):
                    partner.reseed(seed + 1 + i)
        obs, _ = self.env.reset(seed=seed)
        self._start_episodes(torch.ones(self.num_envs, dtype=torch.bool, device=self.env.device))
        self._obs = obs
        return self._ego_view(obs), self._episode_info()

    def step(self, actions: Any):
        if self._obs is None:
            raise EnvArgumentError("call reset() before step()")
        ego = self._check_actions(actions)
        ego_index, partner_index = self._flat(self.seat), self._flat(1 - self.seat)
        joint = self._joint.view(-1)
        joint[ego_index] = ego
        joint[partner_index] = self._partner_actions(partner_index)
        obs, reward, term, trunc, info = self.env.step(self._joint)
        done = term | trunc
        infos: dict[str, Any] = {"events": self._pick(info["events"], ego_index).cpu().numpy()}
        ego_reward = self._pick(reward, ego_index).cpu().numpy()
        if bool(done.any()):
            self._add_final(infos, done, info)
            self._start_episodes(done)
        infos.update(self._episode_info())
        self._obs = obs
        return self._ego_view(obs), ego_reward, _numpy(term), _numpy(trunc), infos

    def close_extras(self, **kwargs: Any) -> None:
        self.env.close()

    # ------------------------------------------------------------- internals
    def _flat(self, seat: Tensor) -> Tensor:
        """Row indices of ``(copy, seat)`` in ``[B * 2, ...]``-flattened per-seat tensors."""
        return self._rows * 2 + seat

    def _pick(self, per_seat: Tensor, flat_index: Tensor) -> Tensor:
        """``per_seat[b, seat[b]]`` for every copy ``b`` (``index_select`` on the flattened
        ``[B * 2, ...]`` tensor: several times faster than two-tensor advanced indexing)."""
        return per_seat.reshape(-1, *per_seat.shape[2:]).index_select(0, flat_index)

    def _ego_view(self, obs: Tensor) -> np.ndarray:
        return self._pick(obs, self._flat(self.seat)).cpu().numpy()

    def _episode_info(self) -> dict[str, np.ndarray]:
        # copies: numpy views of the state tensors would change under the caller's hands
        return {"seat": _numpy(self.seat), "partner": _numpy(self.partner_index)}

    def _check_actions(self, actions: Any) -> Tensor:
        ego = torch.as_tensor(np.asarray(actions), device=self.env.device)
        if ego.shape != (self.num_envs,):
            raise ActionError(f"actions must have shape ({self.num_envs},), got {tuple(ego.shape)}")
        if ego.dtype.is_floating_point or ego.dtype == torch.bool:
            raise ActionError(f"actions must be integers, got dtype {ego.dtype}")
        return ego.to(torch.int64)

    @torch.no_grad()
    def _partner_actions(self, partner_index: Tensor) -> Tensor:
        partner_obs = self._pick(self._obs, partner_index)
        if len(self.partners) == 1:  # the common case: no row selection
            action, self._carries[0] = self.partners[0].act(partner_obs, self._carries[0])
            return action.to(self._joint.device)
        actions = torch.zeros(self.num_envs, dtype=torch.int64, device=self._joint.device)
        for k, partner in enumerate(self.partners):
            rows = (self.partner_index == k).nonzero().squeeze(-1)
            if rows.numel() == 0:
                continue
            carry = self._carries[k]
            action, new_carry = partner.act(
                partner_obs[rows], None if carry is None else carry[rows]
            )
            actions[rows] = action.to(actions.device)
            if carry is not None:
                carry[rows] = new_carry
        return actions

    def _start_episodes(self, rows: Tensor) -> None:
        """Draw seat and partner for the copies in ``rows`` (bool [B]); reset their carries."""
        n = int(rows.sum())
        device = self.seat.device
        if self.seat_choice == "random":
            draws = self.np_random.integers(2, size=n)
            self.seat[rows] = torch.as_tensor(draws, dtype=torch.int64, device=device)
        else:
            self.seat[rows] = int(self.seat_choice)
        if len(self.partners) > 1:
            draws = self.np_random.integers(len(self.partners), size=n)
            self.partner_index[rows] = torch.as_tensor(draws, dtype=torch.int64, device=device)
        for k, carry in enumerate(self._carries):
            if carry is not None:
                carry[rows] = _fresh_carry(self.partners[k], n).to(carry.dtype)

    def _add_final(self, infos: dict[str, Any], done: Tensor, info: dict[str, Tensor]) -> None:
        """Gymnasium's same-step keys for the copies whose episode ended this step."""
        mask = done.cpu().numpy()
        ego_index = self._flat(self.seat)
        final_obs = self._pick(info["final_obs"], ego_index).cpu().numpy()
        ego_return = self._pick(info["episode_return"], ego_index).cpu().numpy()
        final_info = {
            "episode_return": np.where(mask, ego_return, 0.0),
            "episode_length": np.where(mask, info["episode_length"].cpu().numpy(), 0),
            "seat": _numpy(self.seat),
            "partner": _numpy(self.partner_index),
        }
        for key in list(final_info):
            final_info[f"_{key}"] = mask
        infos.update(
            {
                "final_obs": final_obs,
                "_final_obs": mask,
                "final_info": final_info,
                "_final_info": mask,
            }
        )


def _numpy(tensor: Tensor) -> np.ndarray:
    """A numpy copy that shares no memory with ``tensor`` (on any device)."""
    return tensor.cpu().numpy().copy()


def _fresh_carry(policy: Any, n: int) -> Tensor | None:
    reset = getattr(policy, "reset_carry", None)
    carry = reset(n) if reset is not None else None
    return carry if isinstance(carry, torch.Tensor) else None
