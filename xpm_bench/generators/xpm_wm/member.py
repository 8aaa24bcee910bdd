"""One XPM-WM member's run: imagined SP/XP with PPO in latent space, real SP collection.

Member 0 is Phase 1 (no partners: plain imagined self-play while the model learns from its
real episodes); members 1..M-1 are Phase 2 (frozen earlier members as partners, the model
fine-tuned with the KL penalty). One iteration:

1. collect ``real_rollout_steps`` real steps of pi_m in self-play (``real_envs`` copies) into
   B_SP, and with ``real_xp_fraction`` > 0 real XP steps with the frozen members into B_XP;
2. ``model_updates`` world-model updates on B_SP ∪ B_XP (Phase 2: plus ``kl_gamma`` x KL to
   the model as it was when member m started), after ``warmup_iterations`` of collection;
3. refresh the imagined start states (``imagine_from``) and run one PPO update of pi_m on
   ``horizon`` imagined steps of ``imagined_envs`` copies: SP copies (some restarting from
   latent states banked from the imagined XP copies: XP-state expansion) and XP copies with
   every frozen member in both seats; the objective's weights are refreshed afterwards.

In imagination every actor (pi_m and the frozen members) is a plain ``mlp`` over the model's
features; in the real env the same weights act through
:class:`~xpm_bench.agents.wm_actor.WMFeaturePolicy`, which filters real observations with
the shared model.
"""

from __future__ import annotations

from typing import Any

import torch

from xpm_bench.agents.networks import NetPolicy, build_network
from xpm_bench.agents.wm_actor import WMFeaturePolicy
from xpm_bench.generators.harness import Harness
from xpm_bench.generators.xpm_wm.config import XPMWMConfig
from xpm_bench.generators.xpm_wm.model_ops import FeatureEnv, RecordingEnv, model_update
from xpm_bench.generators.xpm_wm.objective import XPMObjectiveState, seat_groups, xpm_seating
from xpm_bench.generators.xpm_wm.states import StateBank, XPStartsEnv
from xpm_bench.registry import make
from xpm_bench.rl.ppo import Learner
from xpm_bench.rl.rollout import RolloutState, collect_rollout, initial_state
from xpm_bench.rl.trainer import PPOTrainer, TrainConfig
from xpm_bench.seeding import child_seed
from xpm_bench.wm.imagined_env import ImaginedEnv, StartStates
from xpm_bench.wm.model import WorldModel
from xpm_bench.wm.replay import Recorder
from xpm_bench.wm.train import WMTrainer

Tensor = torch.Tensor
REAL_SP, REAL_XP = "xpm-wm-real-sp", "xpm-wm-real-xp"


def actor_kwargs(config: XPMWMConfig, model: WorldModel) -> tuple[str, dict[str, Any]]:
    """``(arch, arch_kwargs)`` of a latent actor: an ``mlp`` over the model's features."""
    train = _train_config(config, 1)
    return train.arch_spec((model.feat_dim,), model.num_actions)


def _train_config(config: XPMWMConfig, iterations: int, real: bool = False) -> TrainConfig:
    """The PPO trainer's settings for ``iterations`` updates of one member, on imagined
    rollouts (``horizon`` steps of ``imagined_envs`` copies) or on real ones."""
    envs = config.real_envs if real else config.imagined_envs
    length = config.real_rollout_steps if real else config.horizon
    steps = iterations * envs * length
    return TrainConfig(
        env_steps=steps,
        num_envs=envs,
        rollout_steps=length,
        arch="mlp",
        hidden=config.actor_hidden,
        layers=config.actor_layers,
        reward_set="sparse",
        shaping_anneal_steps=steps // 2,
        event_shaping=config.event_shaping,
        ppo=config.ppo,
    )


def latent_policy(
    arch: str, kwargs: dict[str, Any], weights: dict[str, Tensor], device
) -> NetPolicy:
    """A frozen member's actor as a policy over model features (for imagination)."""
    net = build_network(arch, kwargs)
    net.load_state_dict(weights)
    return NetPolicy(net.to(device).eval(), device=device)


class MemberRun:
    """Member ``index``'s training state; see the module docstring.

    Args:
        harness: the run's harness (ledger, real envs, device).
        env_id: the real env.
        config: the method's config.
        index: member index (0: Phase 1).
        seed: the member's seed.
        wm: the shared model's trainer (model, optimiser, replay).
        frozen: the frozen members' actor weights, in member order.
        previous: the model as it was when this member started (Phase 2), for the KL.
    """

    def __init__(
        self,
        harness: Harness,
        env_id: str,
        config: XPMWMConfig,
        index: int,
        seed: int,
        wm: WMTrainer,
        frozen: list[dict[str, Tensor]],
        previous: WorldModel | None,
    ):
        self.config, self.index, self.seed = config, index, seed
        self.wm, self.previous = wm, previous
        self.device = harness.device
        self.iteration = 0
        self.real_sp: list[float] = []  # mean real SP return of each iteration with episodes
        model = wm.model
        arch, kwargs = actor_kwargs(config, model)
        iterations = config.phase1_max_iterations if index == 0 else config.member_iterations
        seats, xp_rows, groups = xpm_seating(
            config.imagined_envs, config.xp_env_fraction, len(frozen), self.device
        )
        self.objective = XPMObjectiveState(config, groups, len(frozen))
        self.learner = Learner(
            arch, kwargs, config.ppo, child_seed(seed, 0), self.device, self.objective.streams()
        )
        self._start_env = make(env_id, num_envs=config.imagined_envs, device=self.device)
        real = self._real_env(harness, env_id, REAL_SP, config.real_envs, "sp")
        self.imagined = ImaginedEnv(
            model, real, config.imagined_envs, harness.ledger, "sp", config.horizon,
            "sparse", seed=child_seed(seed, 5),
        )  # fmt: skip
        self.env = XPStartsEnv(
            self.imagined,
            StateBank(config.xp_state_capacity),
            xp_copies=xp_rows,
            sp_copies=~xp_rows,
            start_fraction=config.xp_start_fraction if config.xp_state_expansion else 0.0,
            seed=child_seed(seed, 3),
            xp_reward_weights=real.reward_weight_tensor("sparse"),
        )
        partners = [latent_policy(arch, kwargs, w, self.device) for w in frozen]
        self.trainer = PPOTrainer(
            self.env, self.learner, _train_config(config, iterations), child_seed(seed, 1),
            partners=partners, seating=seats,
        )  # fmt: skip
        self.real = real
        self.real_actors = [self._real_policy(self.learner.actor, child_seed(seed, 6))]
        self.real_xp = None
        n_xp = round(config.real_envs * config.real_xp_fraction) if frozen else 0
        if n_xp:
            self.real_xp = self._real_env(harness, env_id, REAL_XP, n_xp, "xp")
            self.real_xp_actors = self.real_actors + [
                self._real_policy(latent_policy(arch, kwargs, w, self.device).net,
                                  child_seed(seed, 7, j))
                for j, w in enumerate(frozen)
            ]  # fmt: skip
            self.real_xp_seats = _xp_only_seats(n_xp, len(frozen), self.device)
        self.real_gen = torch.Generator().manual_seed(child_seed(seed, 8))
        # Phase 1 with phase1_mode real/both: agent 0 also learns with PPO on its real steps,
        # seen through the model's filter (the real collection is then this trainer's rollout)
        self.real_mode = config.phase1_mode if index == 0 else "imagination"
        if self.real_mode != "imagination":
            self.features = FeatureEnv(real, model, child_seed(seed, 12))
            self.real_trainer = PPOTrainer(
                self.features, self.learner, _train_config(config, iterations, real=True),
                child_seed(seed, 13),
            )  # fmt: skip

    # ----------------------------------------------------------------- setup
    def _real_env(self, harness: Harness, env_id: str, name: str, n: int, kind: str):
        env = harness.make_env(name, env_id, n, kind=kind)
        return RecordingEnv(env, Recorder(self.wm.replay, kind, n))

    def _real_policy(self, actor: torch.nn.Module, seed: int) -> WMFeaturePolicy:
        return WMFeaturePolicy(self.wm.model, actor, seed=seed, device=self.device)

    def start(self) -> None:
        """A fresh member: reset the real envs (new episodes for pi_m) and the imagined env."""
        cfg, seed = self.config, self.seed
        if self.real_mode != "imagination":
            self.real_trainer.start(seed=child_seed(seed, 9))
        else:
            obs, _ = self.real.reset(seed=child_seed(seed, 9))
            sp_seats = torch.zeros(cfg.real_envs, 2, dtype=torch.int64, device=self.device)
            self.real_state = initial_state(obs, sp_seats, self.real_actors)
        if self.real_xp is not None:
            obs, _ = self.real_xp.reset(seed=child_seed(seed, 10))
            self.real_xp_state = initial_state(obs, self.real_xp_seats, self.real_xp_actors)
        self.imagined.starts = self._start_states()
        self.trainer.start(seed=child_seed(seed, 2))

    # ------------------------------------------------------------- iteration
    @property
    def training(self) -> bool:
        """Past the warm-up: the model and pi_m update this iteration."""
        return self.index > 0 or self.iteration >= self.config.warmup_iterations

    def iterate(self) -> dict[str, Any]:
        """One iteration (module docstring); returns progress metrics."""
        cfg = self.config
        real_sp = self._collect_real()
        metrics: dict[str, Any] = {"real_sp": real_sp}
        if self.training:
            for _ in range(cfg.model_updates):
                m = model_update(self.wm, self.previous, cfg.kl_gamma)
            metrics["model_loss"] = m["total"]
            metrics["kl_previous"] = m.get("kl_previous", 0.0)
            if self.real_mode != "real":
                self.imagined.starts = self._start_states()
                stats = self.trainer.update()
                metrics.update(self.objective.observe(stats["episodes"]))
                self.learner.streams = self.objective.streams()
        self.iteration += 1
        return metrics

    def _collect_real(self) -> float:
        cfg = self.config
        if self.real_mode != "imagination":
            episodes = self.real_trainer.update()["episodes"]
        else:
            episodes = collect_rollout(
                self.real, self.real_state, self.real_actors, cfg.real_rollout_steps,
                self.real_gen,
            ).episodes  # fmt: skip
        if self.real_xp is not None:
            collect_rollout(self.real_xp, self.real_xp_state, self.real_xp_actors,
                            cfg.real_rollout_steps, self.real_gen)  # fmt: skip
        sparse = episodes["sparse_return"]
        if sparse.numel() == 0:
            return float("nan")
        self.real_sp.append(float(sparse.mean()))
        return self.real_sp[-1]

    @torch.no_grad()
    def _start_states(self) -> StartStates:
        cfg, gen = self.config, self.imagined.generator
        if cfg.imagine_from == "reset":
            obs, _ = self._start_env.reset(seed=child_seed(self.seed, 11, self.iteration))
            return StartStates.from_observations(self.wm.model, obs, gen)
        return StartStates.from_replay(self.wm.model, self.wm.replay, cfg.imagined_envs,
                                       generator=gen)  # fmt: skip

    def phase1_done(self) -> bool:
        """Agent 0 met the SP target (or ran out of iterations)."""
        cfg = self.config
        if self.iteration >= cfg.phase1_max_iterations:
            return True
        recent = self.real_sp[-cfg.target_window :]
        return (
            self.iteration >= cfg.phase1_min_iterations
            and len(recent) == cfg.target_window
            and sum(recent) / len(recent) >= cfg.sp_target
        )

    @property
    def done(self) -> bool:
        if self.index == 0:
            return self.phase1_done()
        return self.iteration >= self.config.member_iterations

    # ------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict[str, Any]:
        ienv = self.imagined
        data = {
            "iteration": self.iteration,
            "real_sp": list(self.real_sp),
            "trainer": self.trainer.state_dict(),
            "starts_env": self.env.state_dict(),
            "objective": self.objective.state_dict(),
            "imagined": ienv.get_state(),
            "imagined_generator": ienv.generator.get_state(),
            "imagined_starts": {"seat0": ienv.starts.seat0, "seat1": ienv.starts.seat1},
            "real_policy": self.real_actors[0].generator.get_state(),
            "real_generator": self.real_gen.get_state(),
        }
        if self.real_mode != "imagination":
            data["real_trainer"] = self.real_trainer.state_dict()
            data["features"] = self.features.state_dict()
        else:
            data["real_state"] = self.real_state.state_dict()
        if self.real_xp is not None:
            data["real_xp_state"] = self.real_xp_state.state_dict()
            data["real_xp_policies"] = [p.generator.get_state() for p in self.real_xp_actors]
        return data

    def load_state_dict(self, data: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (instead of :meth:`start`)."""
        self.iteration = int(data["iteration"])
        self.real_sp = list(data["real_sp"])
        self.objective.load_state_dict(data["objective"])
        self.learner.streams = self.objective.streams()
        ienv = self.imagined
        ienv.starts = StartStates(
            data["imagined_starts"]["seat0"], data["imagined_starts"]["seat1"]
        )
        ienv.set_state(data["imagined"])
        ienv.generator.set_state(data["imagined_generator"])
        self.trainer.load_state_dict(data["trainer"])
        self.env.load_state_dict(data["starts_env"])
        if self.real_mode != "imagination":
            self.real_trainer.load_state_dict(data["real_trainer"])
            self.features.load_state_dict(data["features"])
        else:
            self.real_state = _rollout_state(self.real, self.real_actors, data["real_state"])
        self.real_actors[0].generator.set_state(data["real_policy"])
        self.real_gen.set_state(data["real_generator"])
        if self.real_xp is not None:
            self.real_xp_state = _rollout_state(self.real_xp, self.real_xp_actors,
                                                data["real_xp_state"])  # fmt: skip
            for policy, g in zip(self.real_xp_actors, data["real_xp_policies"], strict=True):
                policy.generator.set_state(g)


def _rollout_state(env: Any, actors: list[Any], data: dict[str, Any]) -> RolloutState:
    obs = data["obs"].to(env.device)
    state = initial_state(obs, data["seating"]["seats"].to(env.device), actors)
    state.load_state_dict(data)
    return state


def _xp_only_seats(n: int, n_partners: int, device: Any) -> Tensor:
    """``[n, 2]``: pi_m (actor 0) against every frozen member (actor j + 1), both seats."""
    seats = torch.zeros(n, 2, dtype=torch.int64)
    for row, (j, seat) in enumerate(seat_groups(n, n_partners)):
        seats[row, 1 - seat] = j + 1
    return seats.to(device)
