"""LIPO (``lipo``): M agents trained at once to be compatible with themselves and not each other.

Charakorn et al., ICLR 2023 (docs/methods.md, docs/references.md section 3). Agent ``i``
maximises ``J_SP(pi_i) - lambda_XP * max_{j != i} J_XP(pi_i, pi_j)``:

- every update rolls out all M^2 ordered pairs (self-play pairs included) in one batched env,
  ``num_envs`` copies per pair, so the ledger counts M pairs of ``sp`` and M(M-1) of ``xp``;
- from that rollout, agent i's XP return with partner j is the mean sparse return of the
  finished (i, j) and (j, i) episodes; the partner with the highest one is j*;
- agent i's objective is the ``sp`` stream (weight 1) and one ``xp:<j>:*`` stream per partner
  (both seats, its own centralised critic); only j*'s has weight ``-lambda_XP``, the others 0,
  so every XP critic learns on its pair while only j* moves the policy.

The run checkpoints at every update boundary the harness asks for and resumes mid-run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from xpm_bench.errors import ConfigError
from xpm_bench.generators import xpm_common as xc
from xpm_bench.generators.config import config_to_dict
from xpm_bench.generators.harness import Harness
from xpm_bench.population import Population
from xpm_bench.rl.ledger import Ledger
from xpm_bench.rl.rollout import Seating
from xpm_bench.rl.streams import Stream
from xpm_bench.rl.trainer import TrainConfig, make_learner
from xpm_bench.seeding import child_seed, spawn_seeds

METHOD = "lipo"
PRESETS = xc.PRESETS
Tensor = torch.Tensor


@dataclass(frozen=True)
class Config(TrainConfig):
    """LIPO config: the fields of :class:`~xpm_bench.rl.trainer.TrainConfig` (network, PPO,
    reward shaping), with the budget and batch counted per ordered pair, and ``lambda_xp``."""

    env_steps: int = 200_000
    """Real env steps of each cross-play pair (i, j) over the run; the number of updates is
    ``env_steps // (num_envs * rollout_steps)``, and a run of M members takes
    ``(M (M - 1) num_envs + M sp_envs) * rollout_steps`` steps per update (LIPO's cost grows
    with M^2)."""
    num_envs: int = 16
    """Env copies per cross-play pair (i, j), i != j, in each rollout (LIPO's
    ``n_xp_episodes``: 50 episodes per pair)."""
    sp_envs: int = 16
    """Env copies per self-play pair (i, i) in each rollout (LIPO's ``n_sp_episodes``, 50)."""
    lambda_xp: tuple[tuple[int, float], ...] = xc.LIPO_PMR_LAMBDA
    """lambda_XP by population size, ``(size, weight)`` pairs: a run of M members uses the
    entry with the largest size <= M. LIPO's PMR scripts: 0.5 (M = 1, 4), 0.1 (2), 0.25 (8).
    ``[[1, w]]`` is a constant."""
    lambda_ramp: float = 0.0
    """Fraction of the updates over which lambda_XP ramps linearly from 0 to its value
    (LIPO's ``anneal_xp``, off in its configs); 0 applies it from the first update. A ramp
    lets self-play find conventions before cross-play minimisation can push an agent into
    quitting, which minimises XP and SP alike."""


def preset(name: str, env_id: str) -> Config:
    """The named preset for ``env_id`` (``smoke``, ``default`` or ``paper``)."""
    xc.check_preset(name)
    family = xc.family_of(env_id)
    rewards = xc.shaping_for(family)
    if family == "CMG":
        return _cmg_preset(name)
    if family == "MPPMR":
        return _mppmr_preset(name, rewards)
    if family == "Overcooked":
        return _overcooked_preset(name, rewards)
    steps = {"smoke": 4_096, "default": 200_000, "paper": 2_000_000}[name]
    return Config(env_steps=steps, **rewards)


def _cmg_preset(name: str) -> Config:
    rewards = {"reward_set": "sparse", "event_shaping": ()}
    if name == "paper":  # LIPO's one-step matrix config: 300 iterations of 100 episodes
        return Config(
            env_steps=30_000,
            num_envs=100,
            sp_envs=100,
            rollout_steps=1,
            lambda_xp=xc.LIPO_CMG_LAMBDA,
            ppo=xc.LIPO_CMG_PPO,
            **rewards,
        )
    steps = {"smoke": 3_072, "default": 12_288}[name]
    return Config(
        env_steps=steps,
        num_envs=32,
        sp_envs=32,
        rollout_steps=2,
        lambda_xp=((1, 1.0),),
        ppo=xc.CMG_PPO,
        **rewards,
    )


def _mppmr_preset(name: str, rewards: dict) -> Config:
    if name == "paper":  # LIPO's PMR settings: 300 iterations, 50 episodes per pair
        return Config(
            env_steps=300 * 50 * 16,
            num_envs=50,
            sp_envs=50,
            rollout_steps=16,
            shaping_anneal_steps=300 * 50 * 16 // 2,
            lambda_xp=xc.LIPO_PMR_LAMBDA,
            ppo=xc.LIPO_PMR_PPO,
            **rewards,
        )
    # self-play copies as the sp generator's presets (128; 16 steps smoke, 32 otherwise),
    # 16 copies per XP pair; 40 / 100 updates
    rollout = 16 if name == "smoke" else 32
    updates = {"smoke": 40, "default": 100}[name]
    return Config(
        env_steps=updates * 16 * rollout,
        num_envs=16,
        sp_envs=128,
        rollout_steps=rollout,
        shaping_anneal_steps=updates * 128 * rollout // 2,  # counted in self-play steps
        lambda_xp=((1, 0.5),),
        lambda_ramp=0.4,  # self-play finds a landmark first (sp: within ~40 updates)
        ppo=xc.MPPMR_PPO,
        **rewards,
    )


def _overcooked_preset(name: str, rewards: dict) -> Config:
    steps = {"smoke": 1_600, "default": 500_000, "paper": 5_000_000}[name]
    num_envs = {"smoke": 2, "default": 4, "paper": 50}[name]
    return Config(
        env_steps=steps,
        num_envs=num_envs,
        sp_envs=num_envs,
        rollout_steps=400 if name != "smoke" else 100,
        arch="mlp",
        shaping_anneal_steps=2_500_000,
        lambda_xp=xc.LIPO_PMR_LAMBDA,
        ppo=xc.OVERCOOKED_PPO if name != "paper" else xc.LIPO_PPO,
        **rewards,
    )


# ------------------------------------------------------------------- the run
def generate(
    env_id: str,
    pop_size: int,
    config: Config,
    seed: int,
    ledger: Ledger | None = None,
    callbacks: Harness | None = None,
) -> Population:
    """Train ``pop_size`` agents at once with LIPO's objective; see the module docstring."""
    if pop_size < 1:
        raise ConfigError(f"pop-size must be >= 1, got {pop_size}")
    harness = callbacks if callbacks is not None else Harness(ledger=ledger)
    m, lam = pop_size, xc.lambda_for(config.lambda_xp, pop_size)
    member_seeds = spawn_seeds(seed, m)
    names = tuple(f"lipo-{i}" for i in range(m))
    seats = _pair_seats(m, config)
    env = harness.make_env("lipo", env_id, seats.shape[0], kind="sp")
    seats = seats.to(env.device)
    learners = [
        make_learner(env, config, child_seed(s, 0), harness.device, objective(names, i, -1, 0.0))
        for i, s in enumerate(member_seeds)
    ]
    trainer = xc.JointTrainer(
        env, Seating.fixed(seats), [lr.policy() for lr in learners], learners, range(m), names,
        config, child_seed(seed, 1), shaped=xc.self_play_copies(seats),
    )  # fmt: skip
    if harness.resume_state is not None:
        trainer.load_state_dict(harness.resume_state)

    def objectives(returns: Tensor) -> list[tuple[Stream, ...]]:
        targets = xc.best_partners(returns)
        now = lam * ramp(config, trainer.updates_done)
        return [objective(names, i, int(targets[i]), now) for i in range(m)]

    harness.plan(config.num_updates * seats.shape[0] * config.rollout_steps)
    while trainer.updates_done < config.num_updates:
        trainer.update(objectives, config.sp_envs * config.rollout_steps)
        harness.report(_metrics(trainer, config))
        harness.boundary(trainer.state_dict)
    harness.close_env("lipo")
    sp = torch.diagonal(trainer.returns)
    members = [
        xc.member_of(
            learner, names[i], member_seeds[i], {"final_sp_return": float(sp[i]), "lambda_xp": lam}
        )
        for i, learner in enumerate(learners)
    ]
    return Population(
        env_id=env_id,
        method=METHOD,
        config=config_to_dict(config),
        seeds={"seed": int(seed), "members": [int(s) for s in member_seeds]},
        ledger=harness.ledger.to_dict(),
        members=members,
    )


def ramp(config: Config, updates_done: int) -> float:
    """The fraction of lambda_XP in force at update ``updates_done`` (see ``lambda_ramp``)."""
    span = config.lambda_ramp * config.num_updates
    return 1.0 if span <= 0 else min(1.0, updates_done / span)


def objective(names: Sequence[str], i: int, target: int, lam: float) -> tuple[Stream, ...]:
    """Agent i's streams: SP (weight 1) and one XP stream per partner over both seats, of
    weight ``-lam`` for this update's max-XP partner ``target`` and 0 for the others (their
    critics still learn)."""
    xp = [
        Stream(f"xp:{names[j]}:*", -lam if j == target else 0.0)
        for j in range(len(names))
        if j != i
    ]
    return (Stream("sp", 1.0), *xp)


def _metrics(trainer: xc.JointTrainer, config: Config) -> dict[str, Any]:
    sp, xp = xc.sp_xp_means(trainer.returns)
    return {
        "update": trainer.updates_done,
        "updates": config.num_updates,
        "member": "all",
        "return": sp,
        "sp": sp,
        "xp": xp,
        "xp_max": xc.max_xp(trainer.returns),
    }


def _pair_seats(m: int, config: Config) -> Tensor:
    """``[B, 2]``: copies in blocks per ordered pair (i, j), i in seat 0 and j in seat 1, in
    row-major order of (i, j); ``sp_envs`` copies for i == j, ``num_envs`` otherwise."""
    i, j = torch.meshgrid(torch.arange(m), torch.arange(m), indexing="ij")
    pairs = torch.stack([i.reshape(-1), j.reshape(-1)], dim=1)
    sizes = torch.where(pairs[:, 0] == pairs[:, 1], config.sp_envs, config.num_envs)
    return pairs.repeat_interleave(sizes, dim=0)
