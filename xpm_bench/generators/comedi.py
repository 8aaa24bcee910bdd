"""CoMeDi (``comedi``): agents trained one after another, each incompatible with the earlier ones.

Sarkar et al., NeurIPS 2023 (docs/methods.md, docs/references.md section 3). Agent ``k``
(earlier agents frozen) maximises its SP return, minimises its XP return with the best
earlier agent j* (weight ``xp_weight``, both seats) and maximises its SP return from
mixed-play states (weight ``mp_weight``). One batched env per agent holds:

- ``num_envs`` SP copies (k in both seats);
- ``xp_envs`` copies per earlier agent j and seat: the XP returns with every earlier agent are
  measured each update, j* is the one with the highest mean over both seats (or every earlier
  agent gets a softmax share of ``xp_weight``);
- ``mp_envs`` mixed-play copies: each episode draws a seat and a switch step (uniform from 1
  to the horizon minus 1); before the switch that seat is played at each step by pi_k or
  pi_j* (``mix_prob`` each), from the switch on by pi_k. Only post-switch steps train the MP
  stream (``mp:*``).

Agent k does not depend on M: a population of 8 starts with the population of 4 from the same
seed. The run checkpoints between and inside agents and resumes mid-agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from xpm_bench.errors import ConfigError
from xpm_bench.generators import xpm_common as xc
from xpm_bench.generators.config import config_to_dict
from xpm_bench.generators.harness import Harness
from xpm_bench.population import Member, Population
from xpm_bench.rl.ledger import Ledger
from xpm_bench.rl.rollout import Seating
from xpm_bench.rl.streams import Stream
from xpm_bench.rl.trainer import TrainConfig, make_learner
from xpm_bench.seeding import child_seed, spawn_seeds

METHOD = "comedi"
PRESETS = xc.PRESETS
SELECTIONS = ("max", "softmax")
Tensor = torch.Tensor


@dataclass(frozen=True)
class Config(TrainConfig):
    """CoMeDi config: the fields of :class:`~xpm_bench.rl.trainer.TrainConfig` (network, PPO,
    reward shaping; ``env_steps`` and ``num_envs`` for self-play), plus the XP and MP terms."""

    env_steps: int = 200_000
    """Self-play env steps of each agent (CoMeDi's nominal budget); its XP and MP copies run
    as many updates, so an agent really takes more (the ledger counts them)."""
    num_envs: int = 32
    """Self-play copies of the agent in each rollout."""
    xp_envs: int = 8
    """Copies per earlier agent and seat in each rollout (CoMeDi: as many as SP copies)."""
    mp_envs: int = 32
    """Mixed-play copies in each rollout (none when ``mp_weight`` is 0 or the horizon is 1)."""
    xp_weight: float = 0.25
    """Weight of the minimised XP term with j* (CoMeDi: 0.25)."""
    mp_weight: float = 1.0
    """Weight of the SP return from mixed-play states (CoMeDi: 1.0; 0 is the XP-only ablation)."""
    mix_prob: float = 0.5
    """Probability that pi_j* plays the mixed seat at a pre-switch step (CoMeDi: 0.5)."""
    partner_selection: str = "max"
    """How the XP term picks earlier agents: ``max`` (j*, the highest mean XP over both
    seats) or ``softmax`` (each j gets ``xp_weight * softmax(xp / temperature)_j``)."""
    selection_temperature: float = 0.1
    """Temperature of ``softmax`` selection, in units of return."""

    def check(self) -> None:
        if self.partner_selection not in SELECTIONS:
            raise ConfigError(
                f"partner_selection must be one of {', '.join(SELECTIONS)}, "
                f"got {self.partner_selection!r}"
            )
        if not 0.0 <= self.mix_prob <= 1.0:
            raise ConfigError(f"mix_prob must lie in [0, 1], got {self.mix_prob}")
        if self.selection_temperature <= 0:
            raise ConfigError(
                f"selection_temperature must be > 0, got {self.selection_temperature}"
            )


def preset(name: str, env_id: str) -> Config:
    """The named preset for ``env_id`` (``smoke``, ``default`` or ``paper``)."""
    xc.check_preset(name)
    family = xc.family_of(env_id)
    rewards = xc.shaping_for(family)
    if family == "CMG":
        steps = {"smoke": 3_072, "default": 12_288, "paper": 30_000}[name]
        return Config(
            env_steps=steps, num_envs=64, xp_envs=32, mp_envs=0, rollout_steps=1,
            shaping_anneal_steps=0, ppo=xc.CMG_PPO, **rewards,
        )  # fmt: skip
    if family == "MPPMR":
        # self-play as the sp generator's presets (128 copies; 16 steps smoke, 32 otherwise)
        steps = {"smoke": 81_920, "default": 409_600, "paper": 1_000_000}[name]
        return Config(
            env_steps=steps, num_envs=128, xp_envs=16, mp_envs=64,
            rollout_steps=16 if name == "smoke" else 32, shaping_anneal_steps=steps // 2,
            ppo=xc.MPPMR_PPO, **rewards,
        )  # fmt: skip
    if family == "Overcooked":
        # CoMeDi's Overcooked scripts: 1M steps per agent, horizon 200 (ours 400), 2x64 MLP
        steps = {"smoke": 1_600, "default": 500_000, "paper": 1_000_000}[name]
        envs = {"smoke": 2, "default": 8, "paper": 50}[name]
        return Config(
            env_steps=steps, num_envs=envs, xp_envs=envs, mp_envs=envs,
            rollout_steps=100 if name == "smoke" else 400, arch="mlp",
            shaping_anneal_steps=2_500_000, ppo=xc.OVERCOOKED_PPO, **rewards,
        )  # fmt: skip
    steps = {"smoke": 4_096, "default": 200_000, "paper": 1_000_000}[name]
    return Config(env_steps=steps, **rewards)


# ------------------------------------------------------------------- the run
def generate(
    env_id: str,
    pop_size: int,
    config: Config,
    seed: int,
    ledger: Ledger | None = None,
    callbacks: Harness | None = None,
) -> Population:
    """Train ``pop_size`` agents one after another with CoMeDi's objective."""
    if pop_size < 1:
        raise ConfigError(f"pop-size must be >= 1, got {pop_size}")
    config.check()
    harness = callbacks if callbacks is not None else Harness(ledger=ledger)
    member_seeds = spawn_seeds(seed, pop_size)
    resumed = harness.resume_state or {"members": [], "current": None}
    members = [Member(**m) for m in resumed["members"]]
    harness.plan(sum(_copies(config, k, env_id)[3] for k in range(pop_size)) * _per_copy(config))
    for k in range(len(members), pop_size):
        current = resumed["current"] if len(members) == len(resumed["members"]) else None
        members.append(_train_agent(harness, env_id, config, k, member_seeds[k], members, current))
        harness.boundary(
            lambda: {"members": [xc.member_state(m) for m in members], "current": None},
            force=True,
        )
    return Population(
        env_id=env_id,
        method=METHOD,
        config=config_to_dict(config),
        seeds={"seed": int(seed), "members": [int(s) for s in member_seeds]},
        ledger=harness.ledger.to_dict(),
        members=members,
    )


def _per_copy(config: Config) -> int:
    return config.num_updates * config.rollout_steps


def _copies(config: Config, k: int, env_id: str) -> tuple[int, int, int, int]:
    """``(sp, xp, mp, total)`` copies of agent ``k``'s env."""
    xp = 2 * k * config.xp_envs
    mp = config.mp_envs if (k > 0 and config.mp_weight != 0 and _horizon(env_id) > 1) else 0
    return config.num_envs, xp, mp, config.num_envs + xp + mp


def _horizon(env_id: str) -> int:
    from xpm_bench.registry import make

    return make(env_id).horizon


def _seats(config: Config, k: int, env_id: str) -> tuple[Tensor, Tensor]:
    """``[B, 2]`` starting seats of agent ``k``'s copies (earlier agents are actors 0..k-1,
    the learner is actor k), and ``[B]`` bool: the mixed-play copies."""
    sp, _, mp, _ = _copies(config, k, env_id)
    blocks = [torch.tensor([[k, k]]).repeat(sp, 1)]
    for j in range(k):
        blocks += [torch.tensor([[k, j]]).repeat(config.xp_envs, 1)]
        blocks += [torch.tensor([[j, k]]).repeat(config.xp_envs, 1)]
    blocks.append(torch.tensor([[k, k]]).repeat(mp, 1))
    seats = torch.cat(blocks)
    mixed = torch.zeros(seats.shape[0], dtype=torch.bool)
    mixed[seats.shape[0] - mp :] = True
    return seats, mixed


def objective(config: Config, names: tuple[str, ...], returns: Tensor, mixed: bool) -> list:
    """Agent k's streams (k = the last actor): SP; one XP stream per earlier agent over both
    seats, weighted by the selection (0 for the others: their critics keep learning); MP."""
    k = len(names) - 1
    streams = [Stream("sp", 1.0)]
    if k > 0:
        weights = xp_weights(config, returns[k, :k])
        streams += [Stream(f"xp:{names[j]}:*", -float(weights[j])) for j in range(k)]
    if mixed:
        streams.append(Stream("mp:*", config.mp_weight))
    return streams


def xp_weights(config: Config, xp: Tensor) -> Tensor:
    """``[k]`` the XP weight of each earlier agent from agent k's XP returns with them: all
    on j* (``max``; none when every XP return is 0: nothing to minimise), or a softmax."""
    if config.partner_selection == "softmax":
        return config.xp_weight * torch.softmax(xp / config.selection_temperature, dim=0)
    weights = torch.zeros_like(xp)
    if bool((xp > 0).any()):
        weights[int(xp.argmax())] = config.xp_weight
    return weights


def _train_agent(
    harness: Harness,
    env_id: str,
    config: Config,
    k: int,
    member_seed: int,
    earlier: list[Member],
    current: dict[str, Any] | None,
) -> Member:
    names = tuple(f"comedi-{j}" for j in range(k + 1))
    seats, mixed = _seats(config, k, env_id)
    env = harness.make_env(f"comedi-{k}", env_id, seats.shape[0], kind="sp")
    seats, mixed = seats.to(env.device), mixed.to(env.device)
    has_mp = bool(mixed.any())
    streams = objective(config, names, torch.zeros(k + 1, k + 1), has_mp)
    learner = make_learner(env, config, child_seed(member_seed, 0), harness.device, streams)
    actors = [m.policy() for m in earlier] + [learner.policy()]
    reseat = _MixedPlayReseater(config, k, mixed, env.horizon, seats)
    trainer = xc.JointTrainer(
        env, Seating.fixed(seats), actors, [learner], [k], names, config,
        child_seed(member_seed, 1), shaped=xc.self_play_copies(seats),
        on_episode_end=reseat if has_mp else None,
    )  # fmt: skip
    reseat.trainer = trainer
    if current is not None:
        trainer.load_state_dict(current)
    else:
        trainer.start()

    def objectives(returns: Tensor) -> list:
        return [objective(config, names, returns, has_mp)]

    while trainer.updates_done < config.num_updates:
        trainer.update(objectives, config.num_envs * config.rollout_steps)
        harness.report(_metrics(trainer, config, k))
        harness.boundary(
            lambda: {
                "members": [xc.member_state(m) for m in earlier],
                "current": trainer.state_dict(),
            }
        )
    harness.close_env(f"comedi-{k}")
    xp = trainer.returns[k, :k]
    info = {"final_sp_return": float(trainer.returns[k, k])}
    if k > 0:
        info["final_xp_return"] = float(xp.mean())
    return xc.member_of(learner, names[k], member_seed, info)


class _MixedPlayReseater:
    """``on_episode_end`` hook: reseat finished mixed-play copies with this update's j* in a
    random seat before a random switch step (1 to horizon - 1)."""

    def __init__(self, config: Config, k: int, mixed: Tensor, horizon: int, seats: Tensor):
        self.config, self.k, self.mixed, self.horizon = config, k, mixed, horizon
        self.seats = seats
        self.trainer: xc.JointTrainer | None = None

    def __call__(self, done: Tensor, state: Any) -> None:
        rows = (done & self.mixed).nonzero().squeeze(-1)
        if rows.numel() == 0 or self.trainer is None:
            return
        gen = self.trainer.generator
        partner = _mix_partner(self.trainer.returns[self.k, : self.k])
        n = rows.numel()
        seat = torch.randint(2, (n,), generator=gen).to(rows.device)
        switch = torch.randint(1, self.horizon, (n,), generator=gen).to(rows.device)
        seats = self.seats[rows]
        mix = seats.clone()
        mix[torch.arange(n, device=rows.device), seat] = partner
        state.seating.set_rows(rows, seats, mix, self.config.mix_prob, switch)


def _mix_partner(xp: Tensor) -> int:
    """j*: the earlier agent with the highest mean XP return (the lowest index on ties)."""
    return int(xp.argmax())


def _metrics(trainer: xc.JointTrainer, config: Config, k: int) -> dict[str, Any]:
    returns = trainer.returns
    sp = float(returns[k, k])
    xp = float(returns[k, :k].mean()) if k > 0 else float("nan")
    return {
        "member": k,
        "update": trainer.updates_done,
        "updates": config.num_updates,
        "return": sp,
        "sp": sp,
        "xp": xp,
        "xp_max": float(returns[k, :k].max()) if k > 0 else float("nan"),
    }
