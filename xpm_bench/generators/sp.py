"""The self-play generator (``sp``): M independent agents, each PPO self-play from its own seed.

Member ``i`` is trained from seed ``spawn_seeds(seed, M)[i]`` with one shared actor playing
both seats and a centralised critic; the members never meet during training. Members are
trained one after another, so member ``i`` does not depend on ``M``: a population of 8 starts
with the population of 4 from the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xpm_bench.envs.overcooked.events import HIPT_SHAPING
from xpm_bench.errors import ConfigError
from xpm_bench.generators.config import config_to_dict
from xpm_bench.generators.harness import Harness
from xpm_bench.population import Member, Population
from xpm_bench.registry import env_family
from xpm_bench.rl.ledger import Ledger
from xpm_bench.rl.ppo import PPOConfig
from xpm_bench.rl.trainer import PPOTrainer, TrainConfig, make_learner
from xpm_bench.seeding import child_seed, spawn_seeds

METHOD = "sp"
PRESETS = ("smoke", "default", "paper", "hipt")


@dataclass(frozen=True)
class Config(TrainConfig):
    """Self-play config: one :class:`~xpm_bench.rl.trainer.TrainConfig` per member.

    All fields are those of ``TrainConfig``; ``env_steps`` is the budget of each member.
    """


# MPPMR's only reward is the rendezvous, which random play never reaches in 16 steps: random
# agents quit within a few steps and wander near the hub. Early shaping (annealed away) pays
# a little for entering a lane and reaching a landmark and charges for quitting, so episodes
# last long enough to find a meeting point. The lane bonus is kept small so that walking in
# and out of a lane (farming it) is worth less than a rendezvous.
MPPMR_SHAPING = (("lane_*", 0.05), ("landmark_*", 0.1), ("quit", -0.1))


def preset(name: str, env_id: str) -> Config:
    """The named preset for ``env_id`` (``smoke``, ``default``, ``paper``; ``hipt`` is HiPT's
    settings on Overcooked and the ``default`` elsewhere)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; accepted: {', '.join(PRESETS)}")
    family = env_family(env_id)
    if family == "MPPMR":
        return _mppmr_preset(name)
    if family == "Overcooked":
        return _overcooked_preset(name)
    # Any other env: generic PPO budgets.
    steps = {"smoke": 20_000, "default": 1_000_000, "paper": 10_000_000, "hipt": 1_000_000}[name]
    return Config(env_steps=steps)


def _mppmr_preset(name: str) -> Config:
    ppo = PPOConfig(lr=1e-3, ent_coef=0.02, epochs=4, minibatches=4)
    if name == "smoke":
        return Config(
            env_steps=80_000,
            num_envs=128,
            rollout_steps=16,
            shaping_anneal_steps=40_000,
            event_shaping=MPPMR_SHAPING,
            ppo=ppo,
        )
    steps = {"default": 400_000, "paper": 2_000_000, "hipt": 400_000}[name]
    return Config(
        env_steps=steps,
        num_envs=128,
        rollout_steps=32,
        shaping_anneal_steps=steps // 2,
        event_shaping=MPPMR_SHAPING,
        ppo=ppo,
    )


def _overcooked_preset(name: str) -> Config:
    # HiPT's self-play settings (docs/references.md): clip 0.05, GAE 0.98, entropy 0.01, its
    # potting shaping annealed over 2.5M steps, 6-10M steps per agent.
    hipt = {"reward_set": "sparse", "event_shaping": HIPT_SHAPING}
    if name == "smoke":
        return Config(
            env_steps=8_000,
            num_envs=8,
            rollout_steps=100,
            shaping_anneal_steps=2_500_000,
            ppo=PPOConfig(lr=1e-3, clip=0.05, gae_lambda=0.98, epochs=2, minibatches=2),
            **hipt,
        )
    if name == "default":
        # The fastest learner we measured on a 2-core CPU (benchmarks/results/sp_learning.json):
        # JaxMARL IPPO's batch shape (16 envs x 128 steps, 4 epochs x 4 minibatches, 2x64 tanh
        # MLP) and its shaped reward (potting, useful dish pickup, soup pickup; annealed over
        # 2.5M steps), with clip 0.2, GAE 0.95 and lr 1e-3 (4x JaxMARL's 2.5e-4). On Cramped
        # Room it reached a mean sparse return of 100 after ~0.2M steps where lr 2.5e-4 needed
        # ~0.7M and HiPT's settings (``hipt``) 1.38M.
        return Config(
            env_steps=3_000_000,
            num_envs=16,
            rollout_steps=128,
            arch="mlp",
            hidden=64,
            layers=2,
            reward_set="shaped",
            shaping_anneal_steps=2_500_000,
            ppo=PPOConfig(
                lr=1e-3, clip=0.2, gae_lambda=0.95, ent_coef=0.01, epochs=4, minibatches=4
            ),
        )
    if name == "hipt":
        # HiPT's self-play settings on CoMeDi's 2x64 MLP over the flattened lossless grid (the
        # conv net is ~15x slower per sample on a CPU; ``paper`` uses it). The ``default``
        # before issue 9; still what the holdout SP partners and the ego are pinned to.
        return Config(
            env_steps=3_000_000,
            num_envs=32,
            rollout_steps=400,
            arch="mlp",
            hidden=64,
            shaping_anneal_steps=2_500_000,
            ppo=PPOConfig(
                lr=1e-3, clip=0.05, gae_lambda=0.98, ent_coef=0.01, epochs=4, minibatches=4
            ),
            **hipt,
        )
    return Config(
        env_steps=10_000_000,
        num_envs=256,
        arch="cnn",
        rollout_steps=400,
        shaping_anneal_steps=2_500_000,
        ppo=PPOConfig(lr=5e-4, clip=0.05, gae_lambda=0.98, ent_coef=0.01, epochs=4, minibatches=8),
        **hipt,
    )


def generate(
    env_id: str,
    pop_size: int,
    config: Config,
    seed: int,
    ledger: Ledger | None = None,
    callbacks: Harness | None = None,
) -> Population:
    """Train ``pop_size`` independent self-play agents; see the module docstring."""
    if pop_size < 1:
        raise ConfigError(f"pop-size must be >= 1, got {pop_size}")
    harness = callbacks if callbacks is not None else Harness(ledger=ledger)
    member_seeds = spawn_seeds(seed, pop_size)
    resumed = harness.resume_state or {"members": [], "current": None}
    members = [_member_from_state(m) for m in resumed["members"]]
    per_member = config.num_updates * config.num_envs * config.rollout_steps
    harness.plan(pop_size * per_member)
    for index in range(len(members), pop_size):
        current = (
            resumed["current"]
            if resumed["current"] and resumed["current"]["index"] == index
            else None
        )
        members.append(
            _train_member(harness, env_id, config, index, member_seeds[index], members, current)
        )
        # a finished member is worth keeping: checkpoint now whatever the interval
        harness.boundary(
            lambda: {"members": [_member_state(m) for m in members], "current": None}, force=True
        )
    return Population(
        env_id=env_id,
        method=METHOD,
        config=config_to_dict(config),
        seeds={"seed": int(seed), "members": [int(s) for s in member_seeds]},
        ledger=harness.ledger.to_dict(),
        members=members,
    )


def _train_member(
    harness: Harness,
    env_id: str,
    config: Config,
    index: int,
    member_seed: int,
    done_members: list[Member],
    current: dict[str, Any] | None,
) -> Member:
    name = f"sp-{index}"
    env = harness.make_env(name, env_id, config.num_envs, kind="sp")
    learner = make_learner(env, config, child_seed(member_seed, 0), harness.device)
    trainer = PPOTrainer(env, learner, config, child_seed(member_seed, 1))
    if current is not None:
        trainer.load_state_dict(current["trainer"])
    else:
        trainer.start(seed=child_seed(member_seed, 2))
    # recent mean sparse returns (progress display, member info); checkpointed with the trainer
    recent: list[float] = list(current["recent"]) if current is not None else []
    while not trainer.done:
        stats = trainer.update()
        sparse = stats["episodes"]["sparse_return"]
        if sparse.numel():
            recent = (recent + [float(sparse.mean())])[-10:]
        harness.report(
            {
                "member": index,
                "update": trainer.updates_done,
                "updates": config.num_updates,
                "return": sum(recent) / len(recent) if recent else float("nan"),
                "entropy": stats.get("entropy", float("nan")),
            }
        )
        harness.boundary(
            lambda recent=recent: {
                "members": [_member_state(m) for m in done_members],
                "current": {
                    "index": index,
                    "trainer": trainer.state_dict(),
                    "recent": list(recent),
                },
            }
        )
    harness.close_env(name)
    return Member(
        name=name,
        arch=learner.arch,
        arch_kwargs=learner.arch_kwargs,
        state_dict={k: v.detach().cpu().clone() for k, v in learner.actor.state_dict().items()},
        seed=int(member_seed),
        info={"final_return": sum(recent) / len(recent) if recent else None},
    )


def _member_state(member: Member) -> dict[str, Any]:
    return {
        "name": member.name,
        "arch": member.arch,
        "arch_kwargs": member.arch_kwargs,
        "state_dict": member.state_dict,
        "seed": member.seed,
        "info": member.info,
    }


def _member_from_state(data: dict[str, Any]) -> Member:
    return Member(**data)
