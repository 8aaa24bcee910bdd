"""Batched rollout collection for any assignment of policies to seats.

A batched env has ``B`` copies x 2 seats = ``2B`` *streams*. ``assignment[b, s]`` says which of
a list of actors plays seat ``s`` of copy ``b``: self-play puts one learner in both seats,
cross-play two different agents, a best-response learner one seat against frozen partners.
Each actor acts once per step on all streams it controls. Actors that are :class:`NetPolicy`
are sampled with the rollout's own generator and their log-probabilities are recorded (these
are the ones a trainer can update); any other :class:`~xpm_bench.agents.base.Policy` (scripted
partners) just acts.

Assignments may change between episodes of a copy (``on_episode_end``); a stream's
recurrent carry is reset at every episode start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from xpm_bench.agents.base import Policy
from xpm_bench.agents.networks import NetPolicy, sample_actions

Tensor = torch.Tensor


@dataclass
class RolloutState:
    """What carries over from one rollout to the next (checkpointed with the trainer).

    Attributes:
        obs: ``[B, 2, *obs_shape]`` current observations.
        starts: ``[B]`` bool, the next step is the first of an episode.
        assignment: ``[B, 2]`` int64 actor index per seat.
        carries: per actor, a ``[2B, ...]`` recurrent carry over all streams, or ``None``.
    """

    obs: Tensor
    starts: Tensor
    assignment: Tensor
    carries: list[Tensor | None]

    def state_dict(self) -> dict[str, Any]:
        return {
            "obs": self.obs.clone(),
            "starts": self.starts.clone(),
            "assignment": self.assignment.clone(),
            "carries": [None if c is None else c.clone() for c in self.carries],
        }

    @classmethod
    def from_state_dict(cls, data: dict[str, Any], device: torch.device) -> RolloutState:
        return cls(
            obs=data["obs"].to(device),
            starts=data["starts"].to(device),
            assignment=data["assignment"].to(device),
            carries=[None if c is None else c.to(device) for c in data["carries"]],
        )


def initial_state(obs: Tensor, assignment: Tensor, actors: Sequence[Policy]) -> RolloutState:
    """The state right after ``env.reset``: every stream starts an episode."""
    n_streams = obs.shape[0] * 2
    carries = [_fresh_carry(actor, n_streams) for actor in actors]
    starts = torch.ones(obs.shape[0], dtype=torch.bool, device=obs.device)
    return RolloutState(obs, starts, assignment.clone(), carries)


@dataclass
class Rollout:
    """``T`` steps of ``B`` copies, time-major.

    Attributes:
        obs: ``[T, B, 2, *obs_shape]`` observation each seat acted on.
        actions, logprobs, rewards: ``[T, B, 2]`` (log-prob 0 for actors without a network).
        dones: ``[T, B]`` the episode ended with this step.
        starts: ``[T, B]`` this step was the first of an episode.
        controller: ``[T, B, 2]`` the actor index that played each seat.
        last_obs: ``[B, 2, *obs_shape]`` observation after the last step (for bootstrapping).
        start_carries: per actor, the ``[2B, ...]`` carry before the first step.
        episodes: finished episodes: ``return`` ``[n, 2]``, ``sparse_return`` ``[n]`` (team),
            ``length`` ``[n]``, ``pair`` ``[n, 2]`` actor indices.
    """

    obs: Tensor
    actions: Tensor
    logprobs: Tensor
    rewards: Tensor
    dones: Tensor
    starts: Tensor
    controller: Tensor
    last_obs: Tensor
    start_carries: list[Tensor | None]
    episodes: dict[str, Tensor] = field(default_factory=dict)

    @property
    def num_steps(self) -> int:
        return self.obs.shape[0]


def kinds_from_assignment(assignment: Tensor) -> Tensor:
    """Per-copy ledger kind index: 0 (``sp``) if both seats hold the same actor, else 1 (``xp``)."""
    return (assignment[:, 0] != assignment[:, 1]).long()


def collect_rollout(
    env: Any,
    state: RolloutState,
    actors: Sequence[Policy],
    num_steps: int,
    generator: torch.Generator,
    on_episode_end: Callable[[Tensor, RolloutState], None] | None = None,
    kind: str | None = None,
) -> Rollout:
    """Step ``env`` ``num_steps`` times from ``state`` (updated in place) and record everything.

    ``on_episode_end(done_mask, state)`` may rewrite ``state.assignment`` for finished copies
    before their next episode. If ``env`` is a metered env, each step is charged to ``kind``, or
    when ``kind`` is None to ``sp``/``xp`` per copy from the current assignment.
    """
    b = state.obs.shape[0]
    dev = state.obs.device
    obs_buf = torch.empty((num_steps, *state.obs.shape), dtype=state.obs.dtype, device=dev)
    actions = torch.zeros(num_steps, b, 2, dtype=torch.int64, device=dev)
    logprobs = torch.zeros(num_steps, b, 2, device=dev)
    rewards = torch.zeros(num_steps, b, 2, device=dev)
    dones = torch.zeros(num_steps, b, dtype=torch.bool, device=dev)
    starts = torch.zeros(num_steps, b, dtype=torch.bool, device=dev)
    controller = torch.zeros(num_steps, b, 2, dtype=torch.int64, device=dev)
    start_carries = [None if c is None else c.clone() for c in state.carries]
    sparse_w = _sparse_weights(env)
    logs: dict[str, list[Tensor]] = {"return": [], "sparse_return": [], "length": [], "pair": []}
    metered = hasattr(env, "set_kind")
    for t in range(num_steps):
        if metered:
            env.set_kind(kind if kind is not None else kinds_from_assignment(state.assignment))
        _reset_carries(state, actors)
        obs_buf[t] = state.obs
        starts[t] = state.starts
        controller[t] = state.assignment
        act, logp = _act_all(state, actors, generator)
        actions[t], logprobs[t] = act, logp
        obs, reward, term, trunc, info = env.step(act)
        done = term | trunc
        rewards[t], dones[t] = reward, done
        state.obs, state.starts = obs, done
        if bool(done.any()):
            _log_episodes(logs, info, done, state.assignment, sparse_w)
            if on_episode_end is not None:
                on_episode_end(done, state)
    episodes = {k: torch.cat(v) if v else _empty_log(k, dev) for k, v in logs.items()}
    return Rollout(
        obs_buf,
        actions,
        logprobs,
        rewards,
        dones,
        starts,
        controller,
        state.obs.clone(),
        start_carries,
        episodes,
    )


def _act_all(
    state: RolloutState, actors: Sequence[Policy], generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    b = state.obs.shape[0]
    flat_obs = state.obs.reshape(2 * b, *state.obs.shape[2:])
    flat_assign = state.assignment.reshape(-1)
    actions = torch.zeros(2 * b, dtype=torch.int64, device=flat_obs.device)
    logprobs = torch.zeros(2 * b, device=flat_obs.device)
    for k, actor in enumerate(actors):
        everywhere = bool((flat_assign == k).all())
        rows = None if everywhere else (flat_assign == k).nonzero().squeeze(-1)
        if rows is not None and rows.numel() == 0:
            continue
        obs_k = flat_obs if rows is None else flat_obs[rows]
        carry = state.carries[k]
        carry_k = None if carry is None else (carry if rows is None else carry[rows])
        act_k, logp_k, carry_k = _act_one(actor, obs_k, carry_k, generator)
        if rows is None:
            actions, logprobs = act_k, logp_k
            if carry is not None:
                state.carries[k] = carry_k
        else:
            actions[rows], logprobs[rows] = act_k, logp_k
            if carry is not None:
                carry[rows] = carry_k
    return actions.view(b, 2), logprobs.view(b, 2)


@torch.no_grad()
def _act_one(
    actor: Policy, obs: Tensor, carry: Any, generator: torch.Generator
) -> tuple[Tensor, Tensor, Any]:
    if isinstance(actor, NetPolicy):
        logits, carry = actor.net(obs, carry)
        greedy = actor.deterministic
        action = logits.argmax(dim=-1) if greedy else sample_actions(logits, generator)
        logp = torch.log_softmax(logits, dim=-1).gather(-1, action.unsqueeze(-1)).squeeze(-1)
        return action, logp, carry
    action, carry = actor.act(obs, carry)
    return action.to(obs.device), torch.zeros(obs.shape[0], device=obs.device), carry


def _fresh_carry(actor: Policy, n: int) -> Tensor | None:
    reset = getattr(actor, "reset_carry", None)
    carry = reset(n) if reset is not None else None
    return carry if isinstance(carry, torch.Tensor) else None


def _reset_carries(state: RolloutState, actors: Sequence[Policy]) -> None:
    if not bool(state.starts.any()):
        return
    stream_starts = state.starts.repeat_interleave(2)
    for k, carry in enumerate(state.carries):
        if carry is not None:
            fresh = _fresh_carry(actors[k], carry.shape[0])
            carry[stream_starts] = fresh[stream_starts].to(carry.dtype)


def _sparse_weights(env: Any) -> Tensor | None:
    if "sparse" not in getattr(env, "reward_sets", {}):
        return None
    return env.reward_weight_tensor("sparse")


def _log_episodes(
    logs: dict[str, list[Tensor]], info: dict, done: Tensor, assignment: Tensor, sparse_w
) -> None:
    ret = info["episode_return"][done]
    logs["return"].append(ret)
    if sparse_w is not None:
        sparse = torch.einsum("bpe,ipe->bi", info["episode_events"][done], sparse_w)[:, 0]
    else:
        sparse = ret[:, 0]
    logs["sparse_return"].append(sparse)
    logs["length"].append(info["episode_length"][done])
    logs["pair"].append(assignment[done].clone())


def _empty_log(key: str, device: torch.device) -> Tensor:
    shapes = {"return": (0, 2), "sparse_return": (0,), "length": (0,), "pair": (0, 2)}
    dtype = torch.int64 if key in ("length", "pair") else torch.float32
    return torch.zeros(shapes[key], dtype=dtype, device=device)
