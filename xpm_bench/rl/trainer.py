"""A PPO training loop over one batched env, and the best-response trainer built from it.

:class:`PPOTrainer` owns one learner (self-play by default, or a best response against frozen
co-actors), its env and rollout state, on the one rollout engine (:mod:`xpm_bench.rl.rollout`); each :meth:`PPOTrainer.update`
collects one rollout and runs one PPO update, annealing the learning rate and the reward
shaping by the learner's env steps. Its whole state (learner, optimiser, RNG, rollout state) is
one ``state_dict`` at an update boundary, which is what makes resumed runs identical to
uninterrupted ones.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from xpm_bench.agents.base import Policy
from xpm_bench.agents.networks import NetPolicy, default_arch
from xpm_bench.errors import ConfigError
from xpm_bench.rl.ledger import Ledger, MeteredEnv
from xpm_bench.rl.ppo import SP_OBJECTIVE, Learner, PPOConfig, learner_batch, ppo_update
from xpm_bench.rl.rollout import RolloutState, Seating, collect_rollout, initial_state
from xpm_bench.rl.streams import Stream

Tensor = torch.Tensor


@dataclass(frozen=True)
class TrainConfig:
    """Budget, batching, network and reward shaping of one PPO learner."""

    env_steps: int = 200_000
    """Real env steps per learner (one step of one env copy counts 1)."""
    num_envs: int = 64
    """Env copies stepped at once."""
    rollout_steps: int = 64
    """Steps per copy in each rollout; one PPO update per rollout."""
    arch: str = "auto"
    """Actor architecture from the registry (``mlp``, ``cnn``), or ``auto`` from the obs shape."""
    hidden: int = 64
    """Width of the dense layers."""
    layers: int = 2
    """Number of dense layers."""
    channels: int = 25
    """Conv filters per layer (``cnn`` only)."""
    gru: int = 0
    """Size of a GRU core after the encoder; 0 for a feed-forward actor."""
    reward_set: str = "auto"
    """Reward weights to train on: a name from the env's ``reward_sets``; ``auto`` uses
    ``shaped`` when the env has it (annealed, see below), else ``sparse``."""
    shaping_anneal_steps: int = 2_500_000
    """Env steps over which the shaped-minus-sparse part of the reward is annealed linearly
    to 0 (HiPT: 2.5M). 0 keeps shaping constant."""
    event_shaping: tuple[tuple[str, float], ...] = ()
    """Extra shaping as ``(event-name pattern, weight)`` pairs (shell-style patterns such as
    ``"landmark_*"``), added to the training reward and annealed like ``shaped``. Used where an
    env has no ``shaped`` set but sparse reward alone is too rare to discover (MPPMR)."""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    """PPO hyper-parameters."""

    def arch_spec(self, obs_shape: tuple[int, ...], num_actions: int) -> tuple[str, dict]:
        """The ``(arch, arch_kwargs)`` this config builds for an env."""
        arch, kwargs = default_arch(obs_shape, num_actions, hidden=self.hidden, layers=self.layers)
        if self.arch != "auto":
            arch = self.arch
        if arch == "cnn":
            kwargs["channels"] = self.channels
        kwargs["gru"] = self.gru
        return arch, kwargs

    @property
    def num_updates(self) -> int:
        return max(1, self.env_steps // (self.num_envs * self.rollout_steps))


def event_shaping_weights(env: Any, patterns: Sequence[tuple[str, float]]) -> Tensor:
    """A length-E weight vector from ``(event-name pattern, weight)`` pairs."""
    weights = torch.zeros(env.num_events)
    for pattern, weight in patterns:
        hits = [i for i, name in enumerate(env.event_names) if fnmatch.fnmatchcase(name, pattern)]
        if not hits:
            raise ConfigError(
                f"event_shaping pattern {pattern!r} matches no event of {env.env_id or 'the env'}; "
                f"events: {', '.join(env.event_names)}"
            )
        weights[hits] += float(weight)
    return weights


def reward_weights(
    env: Any,
    reward_set: str,
    steps: int,
    anneal_steps: int,
    event_shaping: Sequence[tuple[str, float]] = (),
) -> Tensor:
    """Training reward weights ``base + f * shaping`` with ``f`` annealed linearly 1 -> 0.

    ``reward_set`` ``auto`` means ``shaped`` if the env has it, else ``sparse``. For ``shaped``
    the base is ``sparse`` and the shaping is the ``shaped`` set (minus ``sparse`` when the
    ``shaped`` set already includes it); any other set is the base as is. ``event_shaping``
    adds to the shaping part.
    """
    name = reward_set
    if name == "auto":
        name = "shaped" if "shaped" in env.reward_sets else "sparse"
    if name not in env.reward_sets:
        raise ConfigError(
            f"reward_set {name!r} is not a reward set of the env; accepted: "
            f"auto, {', '.join(env.reward_sets)}"
        )
    base = env.reward_weight_tensor("sparse" if name == "shaped" else name)
    shaping = torch.zeros_like(base)
    if name == "shaped":
        shaping = env.reward_weight_tensor("shaped")
        # Some envs' "shaped" set includes the sparse reward, others hold the shaping alone:
        # if it repeats every sparse weight, take the difference.
        sparse_part = base != 0
        if bool(sparse_part.any()) and torch.equal(shaping[sparse_part], base[sparse_part]):
            shaping = shaping - base
    if event_shaping:
        shaping = shaping + env.reward_weight_tensor(
            event_shaping_weights(env, event_shaping).to(base.device)
        )
    frac = 1.0 if anneal_steps <= 0 else max(0.0, 1.0 - steps / anneal_steps)
    return base + frac * shaping


class PPOTrainer:
    """One learner trained with PPO on ``env`` against a fixed list of co-actors.

    ``actors[0]`` is the learner's policy; ``partners`` are frozen co-actors 1..n. ``seating``
    ``[B, 2]`` (or a :class:`Seating`) places actors in seats (default: the learner in both),
    and ``reassign(done, state, generator)`` may reseat finished copies between episodes (a
    best-response learner meets a new partner and seat each episode). The learner trains on
    its objective's streams (``learner.streams``). The ledger kinds come from the seating.
    """

    def __init__(
        self,
        env: Any,
        learner: Learner,
        config: TrainConfig,
        seed: int,
        partners: Sequence[Policy] = (),
        seating: Tensor | Seating | None = None,
        reassign: Callable[[Tensor, RolloutState, torch.Generator], None] | None = None,
    ):
        self.env, self.learner, self.config = env, learner, config
        self.actors: list[Policy] = [learner.policy(), *partners]
        # CPU generator: minibatch order and partner draws; device generator: action sampling
        self.generator = torch.Generator().manual_seed(int(seed))
        self.sample_generator = torch.Generator(device=env.device).manual_seed(int(seed) + 1)
        self.reassign = reassign
        self.updates_done = 0
        self.steps_done = 0
        if seating is None:
            seating = torch.zeros(env.num_envs, 2, dtype=torch.int64, device=env.device)
        self._seating = seating
        self.state: RolloutState | None = None

    def start(self, seed: int) -> None:
        """Reset the env and the rollout state (a fresh run)."""
        obs, _ = self.env.reset(seed=seed)
        seating = self._seating
        self.state = initial_state(
            obs, seating if isinstance(seating, Tensor) else _copy_seating(seating), self.actors
        )
        if self.reassign is not None:
            self.reassign(torch.ones_like(self.state.starts), self.state, self.generator)

    @property
    def done(self) -> bool:
        return self.updates_done >= self.config.num_updates

    def update(self) -> dict[str, Any]:
        """One rollout and one PPO update; returns stats including finished episodes."""
        cfg, ppo = self.config, self.config.ppo
        progress = self.updates_done / self.config.num_updates
        if ppo.anneal_lr:
            self.learner.set_lr(ppo.lr * (1.0 - progress))
        self.env.set_reward_weights(
            reward_weights(
                self.env,
                cfg.reward_set,
                self.steps_done,
                cfg.shaping_anneal_steps,
                cfg.event_shaping,
            )
        )
        on_end = None
        if self.reassign is not None:
            gen = self.generator

            def on_end(done: Tensor, state: RolloutState) -> None:
                self.reassign(done, state, gen)

        rollout = collect_rollout(
            self.env, self.state, self.actors, cfg.rollout_steps, self.sample_generator, on_end
        )
        batch = learner_batch(rollout, self.learner, 0, ppo)
        stats = ppo_update(self.learner, batch, ppo, self.generator)
        self.updates_done += 1
        self.steps_done += cfg.rollout_steps * self.env.num_envs
        stats["episodes"] = rollout.episodes
        return stats

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly from this update boundary."""
        return {
            "learner": self.learner.state_dict(),
            "generator": self.generator.get_state(),
            "sample_generator": self.sample_generator.get_state(),
            "rollout": self.state.state_dict(),
            "updates_done": self.updates_done,
            "steps_done": self.steps_done,
        }

    def load_state_dict(self, data: dict[str, Any]) -> None:
        self.learner.load_state_dict(data["learner"])
        self.generator.set_state(data["generator"])
        self.sample_generator.set_state(data["sample_generator"])
        if self.state is None:
            obs = data["rollout"]["obs"].to(self.env.device)
            self.state = initial_state(obs, data["rollout"]["seating"]["seats"], self.actors)
        self.state.load_state_dict(data["rollout"])
        self.updates_done = int(data["updates_done"])
        self.steps_done = int(data["steps_done"])


def _copy_seating(seating: Seating) -> Seating:
    return Seating.from_state_dict(seating.state_dict(), seating.seats.device)


def make_learner(
    env: Any,
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
    streams: Sequence[Stream] = SP_OBJECTIVE,
) -> Learner:
    """A fresh learner whose architecture fits ``env`` and ``config``, with objective
    ``streams`` (self-play by default)."""
    arch, kwargs = config.arch_spec(tuple(env.observation_shape), env.num_actions)
    return Learner(arch, kwargs, config.ppo, seed, device, streams)


# A best response to a population: every cross-play sample, one value head for all partners.
BEST_RESPONSE_OBJECTIVE = (Stream("xp:*:*"),)


def random_partner_reassign(
    n_partners: int,
) -> Callable[[Tensor, RolloutState, torch.Generator], None]:
    """A ``reassign`` hook: for each finished copy draw a partner (indices 1..n) and a seat
    for the learner (index 0) uniformly at random."""

    def reassign(done: Tensor, state: RolloutState, gen: torch.Generator) -> None:
        rows = done.nonzero().squeeze(-1)
        n = rows.numel()
        if n == 0:
            return
        partner = 1 + torch.randint(n_partners, (n,), generator=gen).to(rows.device)
        seat = torch.randint(2, (n,), generator=gen).to(rows.device)
        pair = torch.stack([torch.zeros_like(partner), partner], dim=1)
        flip = seat == 1
        pair[flip] = pair[flip].flip(1)
        state.seating.set_rows(rows, pair)

    return reassign


def train_best_response(
    env_id: str,
    partners: Sequence[Policy],
    config: TrainConfig,
    seed: int,
    ledger: Ledger | None = None,
    device: str = "cpu",
    env_kwargs: dict[str, Any] | None = None,
    callback: Callable[[PPOTrainer, dict[str, Any]], None] | None = None,
) -> tuple[NetPolicy, Learner]:
    """Train one PPO learner against frozen ``partners``.

    Every episode of every env copy draws one partner uniformly and a random seat for the
    learner. Env steps are charged to ``ledger`` (a fresh one if None), as ``xp`` (the
    seating's kind). ``callback(trainer, stats)`` runs after every update. Returns the
    learner's policy (stochastic) and the learner itself (actor, critic, optimiser).
    """
    from xpm_bench.registry import make

    if not partners:
        raise ValueError("train_best_response needs at least one partner")
    env = MeteredEnv(
        make(env_id, num_envs=config.num_envs, device=device, **(env_kwargs or {})),
        ledger or Ledger(),
        "xp",
    )
    learner = make_learner(env, config, seed, device, BEST_RESPONSE_OBJECTIVE)
    trainer = PPOTrainer(
        env,
        learner,
        config,
        seed + 2,
        partners=partners,
        reassign=random_partner_reassign(len(partners)),
    )
    trainer.start(seed)
    while not trainer.done:
        stats = trainer.update()
        if callback is not None:
            callback(trainer, stats)
    return learner.policy(seed=seed), learner
