"""What the cross-play-minimisation baselines (LIPO, CoMeDi) share: presets, rewards, XP.

One place for what both methods' presets are built from: the PPO settings per env family and
the reward shaping they train with, so that the two methods differ only in what makes them
LIPO or CoMeDi. Facts and sources: ``docs/references.md`` (LIPO: 51616/marl-lipo; CoMeDi:
Stanford-ILIAD/Diverse-Conventions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from xpm_bench.envs.overcooked.events import HIPT_SHAPING
from xpm_bench.errors import ConfigError
from xpm_bench.generators.sp import MPPMR_SHAPING
from xpm_bench.population import Member
from xpm_bench.registry import env_family
from xpm_bench.rl.ppo import Learner, PPOConfig, update_learners
from xpm_bench.rl.rollout import collect_rollout, initial_state
from xpm_bench.rl.streams import Stream
from xpm_bench.rl.trainer import reward_weights

Tensor = torch.Tensor

PRESETS = ("smoke", "default", "paper")

# LIPO's released PPO settings (config/algs/incompat/default.yaml): gamma 0.99, GAE 0.95,
# entropy 0.03, clip 0.3, lr 1e-4, 3 epochs, 5 minibatches, value coefficient 1. Its PMR
# config (rendezvous.yaml) raises lr to 3e-4 and sets 2 minibatches; it also writes
# "epcohs: 10", a misspelt key, so the 3 epochs of the defaults are what ran.
LIPO_PPO = PPOConfig(
    lr=1e-4, gamma=0.99, gae_lambda=0.95, ent_coef=0.03, clip=0.3, vf_coef=1.0, epochs=3,
    minibatches=5,
)  # fmt: skip
LIPO_PMR_PPO = PPOConfig(
    lr=3e-4, gamma=0.99, gae_lambda=0.95, ent_coef=0.03, clip=0.3, vf_coef=1.0, epochs=3,
    minibatches=2,
)  # fmt: skip
# LIPO's one-step matrix game config (one_step_matrix.yaml): lr 3e-4, no entropy bonus,
# 10 epochs, 2 minibatches.
LIPO_CMG_PPO = PPOConfig(lr=3e-4, ent_coef=0.0, clip=0.3, vf_coef=1.0, epochs=10, minibatches=2)

# lambda_XP by population size in LIPO's PMR scripts (scripts/pmr-c/lipo.sh: xp_coef 0.5 for
# M = 1 and 4, 0.1 for M = 2, 0.25 for M = 8) and its CMG script (K = 8, M = 8: 0.5; M >= 16:
# 1.0). A run of M members uses the entry with the largest size <= M.
LIPO_PMR_LAMBDA = ((1, 0.5), (2, 0.1), (4, 0.5), (8, 0.25))
LIPO_CMG_LAMBDA = ((1, 0.5), (16, 1.0))

# Our CPU settings on MPPMR: the sp generator's (lr 1e-3, entropy 0.02, 4 x 4), which learn a
# convention in ~100 updates; the XP terms need the same.
MPPMR_PPO = PPOConfig(lr=1e-3, ent_coef=0.02, epochs=4, minibatches=4)
# HiPT's Overcooked settings, as the sp generator's (clip 0.05, GAE 0.98, entropy 0.01).
OVERCOOKED_PPO = PPOConfig(lr=1e-3, clip=0.05, gae_lambda=0.98, ent_coef=0.01)
# CMG: constant observation, one step; a policy is a distribution over K actions. A little
# entropy keeps early members from collapsing before the XP term has spread them.
CMG_PPO = PPOConfig(lr=3e-3, ent_coef=0.01, epochs=4, minibatches=2, anneal_lr=False)


def check_preset(name: str) -> None:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; accepted: {', '.join(PRESETS)}")


def family_of(env_id: str) -> str:
    """``MPPMR``, ``CMG``, ``Overcooked`` or ``other`` (generic budgets)."""
    family = env_family(env_id)
    return family if family in ("MPPMR", "CMG", "Overcooked") else "other"


def shaping_for(family: str) -> dict:
    """The reward settings (``reward_set``, ``event_shaping``) the sp generator uses."""
    if family == "MPPMR":
        return {"reward_set": "sparse", "event_shaping": MPPMR_SHAPING}
    if family == "Overcooked":
        return {"reward_set": "sparse", "event_shaping": HIPT_SHAPING}
    return {"reward_set": "sparse", "event_shaping": ()}


def lambda_for(schedule: tuple[tuple[int, float], ...], pop_size: int) -> float:
    """The weight a population of ``pop_size`` takes from a ``(size, weight)`` schedule: the
    entry with the largest size <= ``pop_size`` (the smallest entry below all of them)."""
    if not schedule:
        raise ConfigError("the lambda_xp schedule is empty; give at least one [size, weight]")
    ordered = sorted((int(m), float(w)) for m, w in schedule)
    chosen = ordered[0][1]
    for size, weight in ordered:
        if size <= pop_size:
            chosen = weight
    return chosen


# ------------------------------------------------------------ rewards by copy
class ShapedSelfPlayEnv:
    """A view of a batched env whose reward is the sparse one on every copy, plus the annealed
    shaping on the copies in ``shaped`` (self-play and mixed-play copies).

    Cross-play copies score the sparse reward only: with shaping in a minimised XP term, an
    agent would be paid for quitting (MPPMR charges -0.1 for it) and for staying out of lanes
    whenever it meets a stranger, a reward for sabotage. Everything else is the wrapped env's
    (``set_kind``, ``num_envs``, the ledger's metering).
    """

    def __init__(self, env: Any, shaped: Tensor):
        self.env = env
        self.shaped = shaped.to(env.device).view(-1, 1).float()
        self._extra: Tensor | None = None

    def anneal(self, config: Any, steps: int) -> None:
        """Set this update's weights: ``config``'s shaping at ``steps`` env steps per learner."""
        total = reward_weights(
            self.env, config.reward_set, steps, config.shaping_anneal_steps, config.event_shaping
        )
        sparse = self.env.reward_weight_tensor("sparse")
        self.env.set_reward_weights(sparse)
        extra = (total - sparse).to(self.env.device)
        self._extra = extra.reshape(2, -1).T.contiguous() if bool(extra.any()) else None

    def step(self, actions: Tensor):
        obs, reward, term, trunc, info = self.env.step(actions)
        if self._extra is not None:
            events = info["events"]
            reward = reward + (events.reshape(events.shape[0], -1) @ self._extra) * self.shaped
        return obs, reward, term, trunc, info

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)


def self_play_copies(seats: Tensor) -> Tensor:
    """``[B]`` bool: copies whose two seats hold the same actor."""
    return seats[:, 0] == seats[:, 1]


# --------------------------------------------------------------- XP estimates
def pair_returns(episodes: dict[str, Tensor], n_actors: int, previous: Tensor) -> Tensor:
    """``[n, n]`` mean sparse return of each unordered pair over both seats (the diagonal:
    self-play), from one rollout's finished episodes; pairs without an episode keep their
    ``previous`` value."""
    pair = episodes["pair"].cpu()
    ret = episodes["sparse_return"].cpu().float()
    flat = pair[:, 0] * n_actors + pair[:, 1]
    sums = torch.zeros(n_actors * n_actors).index_add_(0, flat, ret).view(n_actors, n_actors)
    counts = torch.zeros(n_actors * n_actors).index_add_(0, flat, torch.ones_like(ret))
    counts = counts.view(n_actors, n_actors)
    both, seen = sums + sums.T, counts + counts.T
    return torch.where(seen > 0, both / seen.clamp_min(1), previous)


def best_partners(xp: Tensor) -> Tensor:
    """``[n]`` for each agent the other agent with the highest XP return; ties go to the
    lowest index. ``-1`` where there is none to minimise: an agent alone, or one whose XP
    returns are all 0 (with a sparse reward a zero return carries no signal, and per-stream
    advantage normalisation would turn its critic's residuals into unit-size noise in the
    policy gradient)."""
    n = xp.shape[0]
    if n < 2:
        return torch.full((n,), -1, dtype=torch.int64)
    masked = xp.clone()
    masked.fill_diagonal_(float("-inf"))
    best = masked.argmax(dim=1)
    signal = masked.max(dim=1).values > 0
    return torch.where(signal, best, torch.full_like(best, -1))


def sp_xp_means(xp: Tensor) -> tuple[float, float]:
    """Mean SP (diagonal) and mean XP (off-diagonal) of a pair-return matrix."""
    n = xp.shape[0]
    sp = float(torch.diagonal(xp).mean())
    if n < 2:
        return sp, float("nan")
    off = ~torch.eye(n, dtype=torch.bool)
    return sp, float(xp[off].mean())


def max_xp(xp: Tensor) -> float:
    """The highest off-diagonal entry of a pair-return matrix (``nan`` for one agent)."""
    n = xp.shape[0]
    return float(xp[~torch.eye(n, dtype=torch.bool)].max()) if n > 1 else float("nan")


# ------------------------------------------------------------- joint training
class JointTrainer:
    """Several learners and frozen actors in one batched env, updated from one rollout.

    ``actors`` lists every actor of the rollout (named ``names``); ``learners[i]`` is actor
    ``indices[i]``. Each :meth:`update` anneals learning rate and shaping, collects one rollout
    (``on_episode_end`` may reseat copies), estimates every pair's return, lets ``objectives``
    set each learner's streams from those estimates, and runs one PPO update per learner. The
    whole state is one ``state_dict`` at an update boundary (checkpoints, resume).
    """

    def __init__(
        self,
        env: Any,
        seating: Any,
        actors: Sequence[Any],
        learners: Sequence[Learner],
        indices: Sequence[int],
        names: Sequence[str],
        config: Any,
        seed: int,
        shaped: Tensor,
        on_episode_end: Callable[[Tensor, Any], None] | None = None,
    ):
        self.env, self.config = env, config
        self.view = ShapedSelfPlayEnv(env, shaped)
        self.actors, self.learners, self.indices = list(actors), list(learners), list(indices)
        self.names = tuple(names)
        self.on_episode_end = on_episode_end
        self.generator = torch.Generator().manual_seed(int(seed))
        self.sample_generator = torch.Generator(device=env.device).manual_seed(int(seed) + 1)
        self.updates_done, self.steps_done = 0, 0
        self.returns = torch.zeros(len(self.actors), len(self.actors))
        obs = env.last_obs if getattr(env, "restored", False) else env.reset(seed=int(seed))[0]
        self.state = initial_state(obs, seating, self.actors)

    def start(self) -> None:
        """Seat every copy for its first episode (a fresh run)."""
        if self.on_episode_end is not None:
            self.on_episode_end(torch.ones_like(self.state.starts), self.state)

    def update(
        self,
        objectives: Callable[[Tensor], Sequence[Sequence[Stream]]],
        steps_per_learner: int,
    ) -> Any:
        """One rollout and one PPO update of every learner; returns the rollout."""
        cfg = self.config
        if cfg.ppo.anneal_lr:
            for learner in self.learners:
                learner.set_lr(cfg.ppo.lr * (1.0 - self.updates_done / cfg.num_updates))
        self.view.anneal(cfg, self.steps_done)
        rollout = collect_rollout(
            self.view, self.state, self.actors, cfg.rollout_steps, self.sample_generator,
            self.on_episode_end, names=self.names,
        )  # fmt: skip
        self.returns = pair_returns(rollout.episodes, len(self.actors), previous=self.returns)
        for learner, streams in zip(self.learners, objectives(self.returns), strict=True):
            learner.reweight({s.name: s.weight for s in streams})
        update_learners(self.learners, self.indices, rollout, self.generator)
        self.updates_done += 1
        self.steps_done += steps_per_learner
        return rollout

    def state_dict(self) -> dict[str, Any]:
        return {
            "learners": [learner.state_dict() for learner in self.learners],
            "generator": self.generator.get_state(),
            "sample_generator": self.sample_generator.get_state(),
            "rollout": self.state.state_dict(),
            "updates_done": self.updates_done,
            "steps_done": self.steps_done,
            "returns": self.returns.clone(),
        }

    def load_state_dict(self, data: dict[str, Any]) -> None:
        for learner, saved in zip(self.learners, data["learners"], strict=True):
            learner.load_state_dict(saved)
        self.generator.set_state(data["generator"])
        self.sample_generator.set_state(data["sample_generator"])
        self.state.load_state_dict(data["rollout"])
        self.updates_done = int(data["updates_done"])
        self.steps_done = int(data["steps_done"])
        self.returns = data["returns"].clone()


def member_of(learner: Learner, name: str, seed: int, info: dict[str, Any]) -> Member:
    """A population member holding a copy of ``learner``'s actor."""
    weights = {k: v.detach().cpu().clone() for k, v in learner.actor.state_dict().items()}
    return Member(name, learner.arch, learner.arch_kwargs, weights, int(seed), info)


def member_state(member: Member) -> dict[str, Any]:
    """A member as plain checkpoint data."""
    return {
        "name": member.name,
        "arch": member.arch,
        "arch_kwargs": member.arch_kwargs,
        "state_dict": member.state_dict,
        "seed": member.seed,
        "info": member.info,
    }
