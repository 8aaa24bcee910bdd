"""The rollout engine: any set of policies in one batched env, for training and evaluation.

A batched env has ``B`` copies x 2 seats = ``2B`` *seat streams*, row ``2b + s`` of a flat
batch. A :class:`Seating` says which of a list of actors plays each seat of each copy:
self-play puts one actor in both seats, cross-play two different ones, a best-response
learner one seat against frozen partners. For mixed play (CoMeDi) a copy has a *switch step*:
before it, a mixed seat is played at each step by ``mix`` with probability ``mix_prob`` and
by ``seats`` otherwise; from the switch on, by ``seats`` only.

Each step every actor acts once on all the streams it controls. Two ways to act:

- ``policy_rng=False`` (training): a :class:`~xpm_bench.agents.networks.NetPolicy` is
  sampled with the rollout's generator and its log-probabilities are recorded, so a trainer's
  randomness is one generator it checkpoints;
- ``policy_rng=True`` (evaluation): every actor acts through its own ``act`` (a stochastic
  member draws from its own, reseeded generator).

Any other :class:`~xpm_bench.agents.base.Policy` (scripted agents) always acts through
``act``. Recurrent carries belong to the actor: each actor keeps one carry per stream, it
changes only on the steps where that actor plays the stream (a mixed seat's two actors each
keep their own), and every actor's carry of a copy is reset when the copy starts an episode.

The env may be any object with the batched-env interface (``reset``/``step`` returning
``obs [B, 2, ...]``, reward ``[B, 2]``, terminated, truncated ``[B]`` and ``info``), a
world-model's imagined env included: a float ``terminated`` is read as the probability that the
episode ended (it discounts the return, see :mod:`xpm_bench.rl.gae`, but ends nothing). If
the env is metered (has ``set_kind``), the engine tells it each copy's step kind from the
seating: ``mp`` for a copy with mixed play in its episode, else ``sp`` when one actor holds
both seats, else ``xp``; the harness's ledger counts from that, never the method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from xpm_bench.agents.base import Policy
from xpm_bench.agents.networks import MLPNet, NetPolicy, sample_actions

Tensor = torch.Tensor
KIND_SP, KIND_XP, KIND_MP = 0, 1, 2  # indices into xpm_bench.rl.ledger.KINDS


# --------------------------------------------------------------------------- seating
@dataclass
class Seating:
    """Who plays each seat of each copy in its current episode (all tensors on one device).

    Attributes:
        seats: ``[B, 2]`` int64 actor per seat: always in copies without mixed play, and from
            the switch step on in copies with it.
        mix: ``[B, 2]`` int64 the other actor of a mixed seat before the switch (equal to
            ``seats`` where the seat is not mixed).
        mix_prob: ``[B]`` probability that a mixed seat is played by ``mix`` at a pre-switch
            step (drawn independently per step and seat).
        switch: ``[B]`` int64 episode step from which only ``seats`` play (0: no mixed play).
    """

    seats: Tensor
    mix: Tensor
    mix_prob: Tensor
    switch: Tensor
    changed: bool = field(default=True, compare=False)
    has_mixing: bool = field(default=True, compare=False)

    def __post_init__(self) -> None:
        self.has_mixing = bool((self.switch > 0).any())

    @classmethod
    def fixed(cls, seats: Tensor) -> Seating:
        """A seating without mixed play."""
        b = seats.shape[0]
        return cls(
            seats.clone(),
            seats.clone(),
            torch.zeros(b, device=seats.device),
            torch.zeros(b, dtype=torch.int64, device=seats.device),
        )

    def set_rows(
        self,
        rows: Tensor,
        seats: Tensor,
        mix: Tensor | None = None,
        mix_prob: Tensor | float = 0.0,
        switch: Tensor | int = 0,
    ) -> None:
        """Seat copies ``rows`` for their next episode (no mixed play unless ``mix`` given)."""
        self.seats[rows] = seats
        self.mix[rows] = seats if mix is None else mix
        self.mix_prob[rows] = torch.as_tensor(mix_prob, dtype=self.mix_prob.dtype).to(rows.device)
        self.switch[rows] = torch.as_tensor(switch, dtype=torch.int64).to(rows.device)
        self.changed = True
        self.has_mixing = bool((self.switch > 0).any())

    def mixed(self) -> Tensor:
        """``[B]`` bool: the copy's episode has mixed play."""
        return (self.switch > 0) & (self.mix != self.seats).any(dim=1)

    def mix_partner(self) -> Tensor:
        """``[B]`` the actor that plays a mixed seat besides ``seats`` (``-1``: no mixing)."""
        differs = self.mix != self.seats
        partner = torch.where(differs[:, 1], self.mix[:, 1], self.mix[:, 0])
        return torch.where(self.mixed(), partner, torch.full_like(partner, -1))

    def kinds(self) -> Tensor:
        """``[B]`` ledger kind index per copy: mp, else sp (one actor in both seats), else xp."""
        kind = torch.where(self.seats[:, 0] == self.seats[:, 1], KIND_SP, KIND_XP)
        return torch.where(self.mixed(), KIND_MP, kind)

    def state_dict(self) -> dict[str, Tensor]:
        return {k: getattr(self, k).clone() for k in ("seats", "mix", "mix_prob", "switch")}

    @classmethod
    def from_state_dict(cls, data: dict[str, Tensor], device: torch.device) -> Seating:
        return cls(*(data[k].to(device) for k in ("seats", "mix", "mix_prob", "switch")))


# --------------------------------------------------------------------------- carries
def _tree_map(fn: Callable[..., Any], tree: Any, *others: Any) -> Any:
    if tree is None:
        return None
    if isinstance(tree, tuple | list):
        return type(tree)(_tree_map(fn, t, *(o[i] for o in others)) for i, t in enumerate(tree))
    return fn(tree, *others)


def _tree_index(tree: Any, rows: Tensor) -> Any:
    return _tree_map(lambda t: t[rows], tree)


class CarryStore:
    """One actor's recurrent carry for every seat stream, kept across switches and resets.

    A carry is ``None``, a tensor or a tuple/list of tensors, with the stream on dim 0. An
    actor whose ``reset_carry`` gives a carry has it copied in at every episode start; an actor
    whose start-of-episode carry is ``None`` (scripted agents build theirs on the first step)
    gets ``None`` for streams marked fresh.
    """

    def __init__(self, actor: Policy, n_streams: int, device: torch.device):
        reset = getattr(actor, "reset_carry", None)
        start = reset(n_streams) if reset is not None else None
        self.start = _tree_map(lambda t: t.to(device), start)
        self.value = _tree_map(lambda t: t.clone(), self.start)
        self.fresh = torch.ones(n_streams, dtype=torch.bool, device=device)
        self.n_streams = n_streams

    @property
    def empty(self) -> bool:
        """No carry held (feed-forward actors): nothing to reset."""
        return self.value is None and self.start is None

    def reset(self, streams: Tensor) -> None:
        """Start an episode on the streams where ``streams`` (bool ``[2B]``) is true."""
        if self.start is not None:
            _tree_map(
                lambda v, s: v.__setitem__(streams, s[streams].to(v.dtype)), self.value, self.start
            )
        else:
            self.fresh |= streams

    def split(self, rows: Tensor) -> list[tuple[Tensor, Any]]:
        """``rows`` as groups that share how their carry is given: ``[(rows, carry)]``."""
        if self.start is not None or self.value is None:
            return [(rows, _tree_index(self.value, rows))]
        fresh = self.fresh[rows]
        if bool(fresh.all()):
            return [(rows, None)]
        if not bool(fresh.any()):
            return [(rows, _tree_index(self.value, rows))]
        old = rows[~fresh]
        return [(rows[fresh], None), (old, _tree_index(self.value, old))]

    def put(self, rows: Tensor, carry: Any, everywhere: bool = False) -> None:
        """Store the carries an actor returned for ``rows``."""
        if carry is None:
            return
        if self.value is None:
            self.value = _tree_map(
                lambda t: torch.zeros(
                    (self.n_streams, *t.shape[1:]), dtype=t.dtype, device=t.device
                ),
                carry,
            )
        if everywhere:
            self.value = _tree_map(lambda t: t, carry)
        else:
            _tree_map(lambda v, c: v.__setitem__(rows, c.to(v.dtype)), self.value, carry)
        self.fresh[rows] = False

    def snapshot(self) -> Any:
        return _tree_map(lambda t: t.clone(), self.value)

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.snapshot(), "fresh": self.fresh.clone()}

    def load_state_dict(self, data: dict[str, Any]) -> None:
        device = self.fresh.device
        self.value = _tree_map(lambda t: t.to(device), data["value"])
        self.fresh = data["fresh"].to(device)


# --------------------------------------------------------------------------- state
@dataclass
class RolloutState:
    """What carries over from one rollout to the next (checkpointed with the trainer).

    Attributes:
        obs: ``[B, 2, *obs_shape]`` current observations.
        starts: ``[B]`` bool, the next step is the first of an episode.
        seating: the current :class:`Seating`.
        carries: one :class:`CarryStore` per actor.
        episode_step: ``[B]`` int64 steps taken in the current episode.
    """

    obs: Tensor
    starts: Tensor
    seating: Seating
    carries: list[CarryStore]
    episode_step: Tensor

    def state_dict(self) -> dict[str, Any]:
        return {
            "obs": self.obs.clone(),
            "starts": self.starts.clone(),
            "seating": self.seating.state_dict(),
            "carries": [c.state_dict() for c in self.carries],
            "episode_step": self.episode_step.clone(),
        }

    def load_state_dict(self, data: dict[str, Any]) -> None:
        device = self.obs.device
        self.obs = data["obs"].to(device)
        self.starts = data["starts"].to(device)
        self.seating = Seating.from_state_dict(data["seating"], device)
        for store, saved in zip(self.carries, data["carries"], strict=True):
            store.load_state_dict(saved)
        self.episode_step = data["episode_step"].to(device)


def initial_state(obs: Tensor, seating: Seating | Tensor, actors: Sequence[Policy]) -> RolloutState:
    """The state right after ``env.reset``: every stream starts an episode.

    ``seating`` may be a plain ``[B, 2]`` actor-per-seat tensor (no mixed play)."""
    if isinstance(seating, Tensor):
        seating = Seating.fixed(seating)
    b, dev = obs.shape[0], obs.device
    carries = [CarryStore(actor, 2 * b, dev) for actor in actors]
    starts = torch.ones(b, dtype=torch.bool, device=dev)
    return RolloutState(
        obs, starts, seating, carries, torch.zeros(b, dtype=torch.int64, device=dev)
    )


# --------------------------------------------------------------------------- one step
@dataclass
class Step:
    """What one engine step did (tensors over copies ``B``)."""

    obs: Tensor
    controller: Tensor
    pre_switch: Tensor | None
    actions: Tensor
    logprobs: Tensor
    reward: Tensor
    terminated: Tensor
    truncated: Tensor
    done: Tensor
    info: dict[str, Any]


def engine_step(
    env: Any,
    state: RolloutState,
    actors: Sequence[Policy],
    generator: torch.Generator | None,
    policy_rng: bool = False,
) -> Step:
    """Play one step of every copy from ``state`` (updated in place)."""
    seating = state.seating
    if seating.changed and hasattr(env, "set_kind"):
        env.set_kind(seating.kinds())
        seating.changed = False
    holding = [store for store in state.carries if not store.empty]
    if holding and bool(state.starts.any()):
        streams = state.starts.repeat_interleave(2)
        for store in holding:
            store.reset(streams)
    obs = state.obs
    controller, pre_switch = _controllers(state, generator)
    actions, logprobs = _act_all(obs, controller, state.carries, actors, generator, policy_rng)
    next_obs, reward, term, trunc, info = env.step(actions)
    ended = term if term.dtype == torch.bool else torch.zeros_like(trunc)
    done = ended | trunc
    state.obs, state.starts = next_obs, done
    state.episode_step = torch.where(done, 0, state.episode_step + 1)
    return Step(obs, controller, pre_switch, actions, logprobs, reward, term, trunc, done, info)


def _mlp_logits(net: MLPNet, obs: Tensor) -> Tensor:
    """A feed-forward MLP's logits without module calls (a rollout step is a few small
    matmuls; the per-module call overhead cost more than the arithmetic)."""
    h = obs.reshape(obs.shape[0], -1)
    h = h if h.dtype == torch.float32 else h.float()
    layers = net.encoder[1]
    for i in range(0, len(layers), 2):
        h = torch.tanh(F.linear(h, layers[i].weight, layers[i].bias))
    return F.linear(h, net.head.weight, net.head.bias)


def _controllers(
    state: RolloutState, generator: torch.Generator | None
) -> tuple[Tensor, Tensor | None]:
    """``[B, 2]`` the actor playing each seat this step, and ``[B]`` pre-switch (None: none)."""
    seating = state.seating
    if not seating.has_mixing:
        return seating.seats, None
    pre = (state.episode_step < seating.switch) & seating.mixed()
    draw = torch.rand(seating.seats.shape, generator=generator, device=seating.seats.device)
    use_mix = pre.unsqueeze(1) & (draw < seating.mix_prob.unsqueeze(1))
    return torch.where(use_mix, seating.mix, seating.seats), pre


def _act_all(
    obs: Tensor,
    controller: Tensor,
    carries: Sequence[CarryStore],
    actors: Sequence[Policy],
    generator: torch.Generator | None,
    policy_rng: bool,
) -> tuple[Tensor, Tensor]:
    b = obs.shape[0]
    flat_obs = obs.reshape(2 * b, *obs.shape[2:])
    flat = controller.reshape(-1)
    if len(actors) == 1:  # self-play fast path: one actor everywhere, no index arithmetic
        rows = torch.arange(2 * b, device=obs.device)
        groups = carries[0].split(rows)
        if len(groups) == 1:
            act, logp, carry = _act_one(actors[0], flat_obs, groups[0][1], generator, policy_rng)
            carries[0].put(rows, carry, everywhere=True)
            return act.view(b, 2), logp.view(b, 2)
    actions = torch.zeros(2 * b, dtype=torch.int64, device=obs.device)
    logprobs = torch.zeros(2 * b, device=obs.device)
    for k, actor in enumerate(actors):
        rows = (flat == k).nonzero().squeeze(-1)
        if rows.numel() == 0:
            continue
        for group_rows, carry in carries[k].split(rows):
            act, logp, carry = _act_one(actor, flat_obs[group_rows], carry, generator, policy_rng)
            actions[group_rows] = act.to(actions.device)
            logprobs[group_rows] = logp
            carries[k].put(group_rows, carry)
    return actions.view(b, 2), logprobs.view(b, 2)


@torch.no_grad()
def _act_one(
    actor: Policy, obs: Tensor, carry: Any, generator: torch.Generator | None, policy_rng: bool
) -> tuple[Tensor, Tensor, Any]:
    if isinstance(actor, NetPolicy) and not policy_rng:
        net = actor.net
        if isinstance(net, MLPNet) and net.gru is None:
            logits = _mlp_logits(net, obs)
        else:
            logits, carry = net(obs, carry)
        log_probs = torch.log_softmax(logits, dim=-1)
        if actor.deterministic:
            action = logits.argmax(dim=-1)
        else:
            action = sample_actions(log_probs, generator)  # Gumbel-max: shift-invariant
        return action, log_probs.gather(-1, action.unsqueeze(-1)).squeeze(-1), carry
    action, carry = actor.act(obs, carry)
    return action.to(obs.device), torch.zeros(obs.shape[0], device=obs.device), carry


# --------------------------------------------------------------------------- rollouts
@dataclass
class Rollout:
    """``T`` steps of ``B`` copies, time-major.

    Attributes:
        obs: ``[T, B, 2, *obs_shape]`` observation each seat acted on.
        actions, logprobs, rewards: ``[T, B, 2]`` (log-prob 0 for actors without a network).
        continues: ``[T, B]`` float, 1 - terminated (see :mod:`xpm_bench.rl.gae`).
        truncated: ``[T, B]`` bool, the episode was cut by its time limit after this step.
        dones: ``[T, B]`` the episode ended with this step (the copy was reset).
        starts: ``[T, B]`` this step was the first of an episode.
        controller: ``[T, B, 2]`` the actor that played each seat.
        pre_switch: ``[T, B]`` the step came before its copy's switch (mixed play).
        mix_partner: ``[T, B]`` the mixing actor of the copy's episode (``-1``: none).
        final_obs: ``[T, B, 2, *obs_shape]`` the last observation of each truncated episode
            (rows valid where ``truncated``), or None when nothing was truncated.
        last_obs: ``[B, 2, *obs_shape]`` observation after the last step (for bootstrapping).
        start_carries: per actor, its carry of every stream before the first step.
        episodes: finished episodes: ``return`` ``[n, 2]``, ``sparse_return`` ``[n]`` (team),
            ``length`` ``[n]``, ``pair`` ``[n, 2]`` actor indices.
        names: the actors' names (stream specs name partners by these).
    """

    obs: Tensor
    actions: Tensor
    logprobs: Tensor
    rewards: Tensor
    continues: Tensor
    truncated: Tensor
    dones: Tensor
    starts: Tensor
    controller: Tensor
    pre_switch: Tensor
    mix_partner: Tensor
    final_obs: Tensor | None
    last_obs: Tensor
    start_carries: list[Any]
    episodes: dict[str, Tensor] = field(default_factory=dict)
    names: tuple[str, ...] = ()
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Derived data shared by every learner updating from this rollout (sparse obs)."""

    @property
    def num_steps(self) -> int:
        return self.obs.shape[0]

    def sparse_obs(self) -> Any:
        """Every seat stream's observation ``[T * 2B]`` (row ``t * 2B + 2b + s``) as
        :class:`~xpm_bench.rl.sparse.SparseRows`, or None if too dense; computed once."""
        cached = self.cache.get("sparse_obs")
        if cached is None or cached[0] is not self.obs:  # a dataclasses.replace copy shares it
            from xpm_bench.rl.sparse import to_sparse_rows

            t_len, b = self.obs.shape[:2]
            cached = (self.obs, to_sparse_rows(self.obs.reshape(t_len * b * 2, -1)))
            self.cache["sparse_obs"] = cached
        return cached[1]


def collect_rollout(
    env: Any,
    state: RolloutState,
    actors: Sequence[Policy],
    num_steps: int,
    generator: torch.Generator,
    on_episode_end: Callable[[Tensor, RolloutState], None] | None = None,
    names: Sequence[str] | None = None,
    policy_rng: bool = False,
) -> Rollout:
    """Step ``env`` ``num_steps`` times from ``state`` (updated in place) and record everything.

    ``on_episode_end(done_mask, state)`` may reseat finished copies for their next episode
    (``state.seating.set_rows``). The returned tensors are fresh (safe to keep).
    """
    # What the env hands out is copied into storage allocated once (an env may reuse its
    # buffers); what the engine makes fresh each step is kept in lists and stacked once.
    dev, b = state.obs.device, state.obs.shape[0]
    obs_buf = torch.empty((num_steps, *state.obs.shape), dtype=state.obs.dtype, device=dev)
    rewards = torch.empty(num_steps, b, 2, device=dev)
    terms, truncs, starts, actions, logprobs, dones, controllers = [], [], [], [], [], [], []
    pre_switch: list[Tensor | None] = []
    mix_partner: list[Tensor | None] = []
    start_carries = [store.snapshot() for store in state.carries]
    final_obs: Tensor | None = None
    sparse_w = _sparse_weights(env)
    logs: dict[str, list[Tensor]] = {"return": [], "sparse_return": [], "length": [], "pair": []}
    partner = seats = None
    for t in range(num_steps):
        starts.append(state.starts)
        if state.seating.changed or seats is None:
            seats = state.seating.seats.clone()  # reseating writes in place: keep a snapshot
            partner = state.seating.mix_partner() if state.seating.has_mixing else None
        step = engine_step(env, state, actors, generator, policy_rng)
        obs_buf[t] = step.obs
        rewards[t] = step.reward
        terms.append(step.terminated.clone())
        truncs.append(step.truncated.clone())
        actions.append(step.actions)
        logprobs.append(step.logprobs)
        dones.append(step.done)
        controllers.append(seats if step.pre_switch is None else step.controller)
        pre_switch.append(step.pre_switch)
        mix_partner.append(partner if step.pre_switch is not None else None)
        if bool(step.done.any()):
            if bool(step.truncated.any()):
                if final_obs is None:
                    final_obs = torch.zeros_like(obs_buf)
                rows = step.truncated
                final_obs[t][rows] = step.info.get("final_obs", state.obs)[rows]
            if "episode_return" in step.info:
                _log_episodes(logs, step.info, step.done, state.seating.seats, sparse_w)
            if on_episode_end is not None:
                on_episode_end(step.done, state)
    no_pre = torch.zeros(b, dtype=torch.bool, device=dev)
    no_partner = torch.full((b,), -1, dtype=torch.int64, device=dev)
    episodes = {k: torch.cat(v) if v else _empty_log(k, dev) for k, v in logs.items()}
    return Rollout(
        obs_buf,
        torch.stack(actions),
        torch.stack(logprobs),
        rewards,
        1.0 - torch.stack(terms).to(torch.float32),
        torch.stack(truncs),
        torch.stack(dones),
        torch.stack(starts),
        torch.stack(controllers),
        torch.stack([no_pre if p is None else p for p in pre_switch]),
        torch.stack([no_partner if m is None else m for m in mix_partner]),
        final_obs,
        state.obs.clone(),
        start_carries,
        episodes,
        tuple(names) if names is not None else tuple(str(k) for k in range(len(actors))),
    )


@dataclass
class Episodes:
    """The first episode of every copy: ``returns [B, 2]``, ``lengths [B]``, ``events
    [B, 2, E]``, ``terminated [B]``."""

    returns: Tensor
    lengths: Tensor
    events: Tensor
    terminated: Tensor


def play_first_episodes(
    env: Any, seating: Seating | Tensor, actors: Sequence[Policy], seed: int
) -> Episodes:
    """Reset ``env`` with ``seed`` and play until every copy has finished one episode; each
    actor acts through its own ``act`` (evaluation). Used by :func:`xpm_bench.rollout.play_pairs`."""
    obs, _ = env.reset(seed=seed)
    state = initial_state(obs, seating, actors)
    b, dev = env.num_envs, env.device
    finished = torch.zeros(b, dtype=torch.bool, device=dev)
    returns = torch.zeros(b, 2, device=dev)
    lengths = torch.zeros(b, dtype=torch.int64, device=dev)
    events = torch.zeros(b, 2, env.num_events, device=dev)
    terminated = torch.zeros(b, dtype=torch.bool, device=dev)
    while not bool(finished.all()):
        step = engine_step(env, state, actors, None, policy_rng=True)
        # Copies that finished keep stepping with the batch but are no longer recorded. Their
        # carries are not reset, as in a plain loop over one episode: every actor then sees the
        # same calls as the pre-merge evaluator did, so the same seeds give the same matrix.
        state.starts = torch.zeros_like(state.starts)
        newly = step.done & ~finished
        if bool(newly.any()):
            info = step.info
            returns[newly] = info["episode_return"][newly]
            lengths[newly] = info["episode_length"][newly]
            events[newly] = info["episode_events"][newly]
            terminated[newly] = step.terminated[newly]
            finished |= newly
    return Episodes(returns, lengths, events, terminated)


def _sparse_weights(env: Any) -> Tensor | None:
    if "sparse" not in getattr(env, "reward_sets", {}):
        return None
    return env.reward_weight_tensor("sparse")


def _log_episodes(
    logs: dict[str, list[Tensor]], info: dict, done: Tensor, pair: Tensor, sparse_w
) -> None:
    ret = info["episode_return"][done]
    logs["return"].append(ret)
    if sparse_w is not None:
        sparse = torch.einsum("bpe,ipe->bi", info["episode_events"][done], sparse_w)[:, 0]
    else:
        sparse = ret[:, 0]
    logs["sparse_return"].append(sparse)
    logs["length"].append(info["episode_length"][done])
    logs["pair"].append(pair[done].clone())


def _empty_log(key: str, device: torch.device) -> Tensor:
    shapes = {"return": (0, 2), "sparse_return": (0,), "length": (0,), "pair": (0, 2)}
    dtype = torch.int64 if key in ("length", "pair") else torch.float32
    return torch.zeros(shapes[key], dtype=dtype, device=device)
