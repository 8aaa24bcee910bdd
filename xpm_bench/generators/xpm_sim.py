"""XPM-Sim (``xpm-sim``): the XPM objective on real rollouts, the true simulator for the model.

Members are trained one after another, earlier members frozen (as in CoMeDi). Member m is one
PPO learner whose objective (:mod:`xpm_bench.rl.streams`) is::

    J(pi_m) = SP - lambda_xp * sum_j w_j * (XP_j^seat0 + XP_j^seat1) / 2

with ``w`` the one-hot of the partner with the highest running XP estimate (or a softmax,
``partner_selection``), refreshed after every update. Its env copies are split: a share
``xp_env_fraction`` plays pi_m with each frozen pi_j (spread evenly over partners and both of
pi_m's seats), the rest self-play. With ``xp_state_expansion`` the states the XP copies visit
are banked and a finished SP copy starts its next episode from a banked state with
probability ``xp_start_fraction`` (:class:`~xpm_bench.generators.xpm_wm.states.XPStartsEnv`).
Each stream has its own critic head (centralised: both seats' observations); XP streams train
on the sparse reward, SP on the training reward (shaping annealed like the ``sp`` generator).

Every step is a real env step counted by the harness: SP steps (from any start state) as
``sp``, XP steps as ``xp``; restoring a banked state is not a step. Member 0 has no partner and
is plain self-play.
"""

from __future__ import annotations

from typing import Any

from xpm_bench.errors import ConfigError
from xpm_bench.generators.config import config_to_dict
from xpm_bench.generators.harness import Harness
from xpm_bench.generators.xpm_wm.config import PRESETS, SimConfig, sim_preset
from xpm_bench.generators.xpm_wm.objective import XPMObjectiveState, xpm_seating
from xpm_bench.generators.xpm_wm.states import StateBank, XPStartsEnv
from xpm_bench.population import Member, Population
from xpm_bench.rl.ledger import Ledger
from xpm_bench.rl.ppo import Learner
from xpm_bench.rl.trainer import PPOTrainer
from xpm_bench.seeding import child_seed, spawn_seeds

METHOD = "xpm-sim"
Config = SimConfig
__all__ = ["METHOD", "PRESETS", "Config", "generate", "preset"]


def preset(name: str, env_id: str) -> SimConfig:
    """The named preset for ``env_id`` (``smoke``, ``default`` or ``paper``)."""
    return sim_preset(name, env_id)


def generate(
    env_id: str,
    pop_size: int,
    config: SimConfig,
    seed: int,
    ledger: Ledger | None = None,
    callbacks: Harness | None = None,
) -> Population:
    """Train ``pop_size`` members one after another; see the module docstring."""
    if pop_size < 1:
        raise ConfigError(f"pop-size must be >= 1, got {pop_size}")
    config.check()
    harness = callbacks if callbacks is not None else Harness(ledger=ledger)
    member_seeds = spawn_seeds(seed, pop_size)
    resumed = harness.resume_state or {"members": [], "current": None}
    members = [Member(**m) for m in resumed["members"]]
    harness.plan(pop_size * config.num_updates * config.num_envs * config.rollout_steps)
    for index in range(len(members), pop_size):
        current = resumed["current"]
        current = current if current and current["index"] == index else None
        members.append(
            _train_member(harness, env_id, config, index, member_seeds[index], members, current)
        )
        harness.boundary(lambda: {"members": _plain(members), "current": None}, force=True)
    return Population(
        env_id=env_id,
        method=METHOD,
        config=config_to_dict(config),
        seeds={"seed": int(seed), "members": [int(s) for s in member_seeds]},
        ledger=harness.ledger.to_dict(),
        members=members,
    )


def _plain(members: list[Member]) -> list[dict[str, Any]]:
    keys = ("name", "arch", "arch_kwargs", "state_dict", "seed", "info")
    return [{k: getattr(m, k) for k in keys} for m in members]


class _MemberRun:
    """Member m's learner, seating, wrapped env and objective state (one PPO run)."""

    def __init__(
        self, harness: Harness, env_id: str, config: SimConfig, index: int, seed: int,
        frozen: list[Member],
    ):  # fmt: skip
        device = harness.device
        env = harness.make_env(f"{METHOD}-{index}", env_id, config.num_envs, kind="sp")
        seats, xp_rows, groups = xpm_seating(
            config.num_envs, config.xp_env_fraction, len(frozen), device
        )
        self.objective = XPMObjectiveState(config, groups, len(frozen))
        self.env = XPStartsEnv(
            env,
            StateBank(config.xp_state_capacity),
            xp_copies=xp_rows,
            sp_copies=~xp_rows,
            start_fraction=config.xp_start_fraction if config.xp_state_expansion else 0.0,
            seed=child_seed(seed, 3),
            xp_reward_weights=env.reward_weight_tensor("sparse"),
        )
        arch, kwargs = config.arch_spec(tuple(env.observation_shape), env.num_actions)
        self.learner = Learner(
            arch, kwargs, config.ppo, child_seed(seed, 0), device, self.objective.streams()
        )
        partners = [m.policy(device, seed=child_seed(seed, 4, j)) for j, m in enumerate(frozen)]
        self.trainer = PPOTrainer(
            self.env, self.learner, config, child_seed(seed, 1), partners=partners, seating=seats
        )

    def update(self) -> dict[str, Any]:
        """One rollout and PPO update, then the XP estimates and the objective's weights."""
        stats = self.trainer.update()
        out = self.objective.observe(stats["episodes"])
        self.learner.streams = self.objective.streams()
        return {**out, "entropy": stats.get("entropy", float("nan"))}

    def state_dict(self) -> dict[str, Any]:
        return {
            "trainer": self.trainer.state_dict(),
            "env": self.env.state_dict(),
            "objective": self.objective.state_dict(),
        }

    def load_state_dict(self, data: dict[str, Any]) -> None:
        self.objective.load_state_dict(data["objective"])
        self.learner.streams = self.objective.streams()
        self.trainer.load_state_dict(data["trainer"])
        self.env.load_state_dict(data["env"])


def _train_member(
    harness: Harness,
    env_id: str,
    config: SimConfig,
    index: int,
    seed: int,
    frozen: list[Member],
    current: dict[str, Any] | None,
) -> Member:
    run = _MemberRun(harness, env_id, config, index, seed, list(frozen))
    if current is not None:
        run.load_state_dict(current["run"])
    else:
        run.trainer.start(seed=child_seed(seed, 2))
    recent: list[float] = list(current["recent"]) if current is not None else []
    last: dict[str, Any] = {}
    while not run.trainer.done:
        last = run.update()
        if last["sp"] == last["sp"]:  # not NaN
            recent = (recent + [last["sp"]])[-10:]
        harness.report(
            {
                "member": index,
                "update": run.trainer.updates_done,
                "updates": config.num_updates,
                "return": sum(recent) / len(recent) if recent else float("nan"),
                "xp": last["xp"],
                "entropy": last["entropy"],
            }
        )
        harness.boundary(
            lambda recent=recent: {
                "members": _plain(frozen),
                "current": {"index": index, "run": run.state_dict(), "recent": list(recent)},
            }
        )
    harness.close_env(f"{METHOD}-{index}")
    learner = run.learner
    return Member(
        name=f"{METHOD}-{index}",
        arch=learner.arch,
        arch_kwargs=learner.arch_kwargs,
        state_dict={k: v.detach().cpu().clone() for k, v in learner.actor.state_dict().items()},
        seed=int(seed),
        info={
            "final_sp_return": sum(recent) / len(recent) if recent else None,
            "xp_estimates": [float(v) for v in run.objective.estimates.values],
            "xp_state_starts": int(run.env.restarts),
            "xp_term_on": bool(run.objective.gate_open),
        },
    )
