"""Configs of XPM-WM and XPM-Sim: frozen dataclasses, one docstring per field, named presets.

Every choice the published method leaves open to us (REFERENCES.md section 1: the paper body is
not available) is a field here, named in ``docs/methods.md``. The objective's fields live in
:class:`XPMObjective`, which both methods' configs extend, so the two share one definition of
the objective and differ only in where its returns come from (imagination or the simulator).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xpm_bench.errors import ConfigError
from xpm_bench.generators.sp import MPPMR_SHAPING
from xpm_bench.registry import env_family
from xpm_bench.rl.ppo import PPOConfig
from xpm_bench.rl.trainer import TrainConfig

PRESETS = ("smoke", "default", "paper")
PARTNER_SELECTIONS = ("max", "softmax")
PHASE1_MODES = ("imagination", "real", "both")
REWARD_HEADS = ("events", "scalar")


@dataclass(frozen=True)
class XPMObjective:
    """The cross-play-minimisation objective J(pi_m) = SP - lambda_xp * sum_j w_j XP_j.

    ``XP_j`` is the mean team return of pi_m with the frozen pi_j over both seats; ``w`` is the
    one-hot of the argmax partner (``max``) or a softmax over the partners' XP returns.
    """

    lambda_xp: float = 0.5
    """Weight of the cross-play term (LIPO: 0.1-0.5 by population size; CoMeDi: 0.25)."""
    partner_selection: str = "max"
    """Which frozen partners the XP term penalises: ``max`` (only the partner with the highest
    current XP return, as in LIPO/CoMeDi) or ``softmax`` (all, weighted by
    ``softmax(XP_j / softmax_temperature)``)."""
    softmax_temperature: float = 0.1
    """Temperature of the ``softmax`` selection, in units of team return."""
    xp_gate_sp: float = 0.5
    """The XP term is switched on once the member's running SP team return reaches this (and
    stays on). Before, the member trains on SP alone while its XP critics learn. Without the
    gate a fresh member minimises XP before it can play: quitting at once is the surest way to
    zero XP, and it cannot yet tell a partner from itself, so it learns to quit in SP too
    (measured on MPPMR: SP 0 for every member after the first). 0: XP on from the start."""
    xp_state_expansion: bool = True
    """Start a share of pi_m's SP episodes from states reachable in cross-play (visited while
    pi_m plays a frozen pi_j). The paper's replacement for CoMeDi's mixed play and its guard
    against self-sabotage. ``false`` is the ablation: SP only from the env's start states."""
    xp_start_fraction: float = 0.5
    """With ``xp_state_expansion``, the fraction of SP episodes started from an XP-reachable
    state (the rest start from the env's start state)."""
    xp_state_capacity: int = 4096
    """XP-reachable states kept per member (a ring buffer, newest replace oldest)."""
    xp_env_fraction: float = 0.5
    """Fraction of the (real or imagined) env copies that play cross-play, split evenly over
    the frozen partners and both of pi_m's seats; the rest play self-play. Member 0, with no
    partner, uses all copies for self-play."""

    def check_objective(self) -> None:
        """Reject values outside the accepted sets, naming the field."""
        if self.partner_selection not in PARTNER_SELECTIONS:
            raise ConfigError(
                f"partner_selection {self.partner_selection!r} is not accepted; accepted: "
                f"{', '.join(PARTNER_SELECTIONS)}"
            )
        if not 0.0 <= self.xp_start_fraction <= 1.0:
            raise ConfigError(f"xp_start_fraction must be in [0, 1], got {self.xp_start_fraction}")
        if self.softmax_temperature <= 0:
            raise ConfigError(f"softmax_temperature must be > 0, got {self.softmax_temperature}")
        if not 0.0 < self.xp_env_fraction < 1.0:
            raise ConfigError(f"xp_env_fraction must be in (0, 1), got {self.xp_env_fraction}")
        if self.xp_state_capacity < 1:
            raise ConfigError(f"xp_state_capacity must be >= 1, got {self.xp_state_capacity}")


@dataclass(frozen=True)
class SimConfig(TrainConfig, XPMObjective):
    """XPM-Sim: the XPM objective on real rollouts (the true simulator replaces the model).

    The ``TrainConfig`` fields size each member's PPO run (``env_steps`` is the budget of one
    member and counts every real step it takes: SP, SP from XP-reachable states and XP). The
    ``XPMObjective`` fields set the objective.
    """

    def check(self) -> None:
        """Reject invalid settings with a message naming the field."""
        self.check_objective()


@dataclass(frozen=True)
class WMConfig(XPMObjective):
    """XPM-WM: the XPM objective on returns imagined in a world model shared by all members.

    Sizes marked "(model)" are handed to the world model (``xpm_bench.wm``); the rest drive
    the two phases. The ``XPMObjective`` fields set the objective.
    """

    # ----------------------------------------------------------------- phase 1
    phase1_mode: str = "both"
    """How agent 0 learns in Phase 1: ``imagination`` (PPO on imagined SP only; real
    episodes only feed the model), ``real`` (PPO on its real SP episodes; the model learns
    beside it), or ``both`` (one PPO update on each per iteration)."""
    sp_target: float = 0.9
    """Phase 1 ends once agent 0's mean real SP team return (sparse reward, last
    ``target_window`` iterations) reaches this."""
    target_window: int = 5
    """Iterations averaged for the ``sp_target`` test."""
    phase1_max_env_steps: int = 400_000
    """Real-step cap on Phase 1 if ``sp_target`` is never met (the run goes on regardless)."""
    # ----------------------------------------------------------------- phase 2
    member_iterations: int = 100
    """Iterations per Phase-2 member; each iteration fine-tunes the model, imagines SP and
    XP, updates pi_m and collects real SP episodes of pi_m."""
    kl_gamma: float = 1.0
    """Weight of the KL penalty that keeps the fine-tuned model's posterior latents close to
    the previous model's (the fine-tuning equation in the package docstring); 0 turns the
    regulariser off (ablation)."""
    real_xp_fraction: float = 0.0
    """Share of each iteration's real episodes that pi_m plays with a frozen partner
    (stored in B_XP, ledgered as ``xp``). 0: only real SP, as in the paper."""
    # ------------------------------------------------------------ real data
    real_envs: int = 16
    """Env copies of each iteration's real collection."""
    real_rollout_steps: int = 16
    """Steps per copy of each iteration's real collection."""
    replay_capacity: int = 200_000
    """Real steps kept in each replay buffer (B_SP and B_XP)."""
    # ---------------------------------------------------------------- model
    horizon: int = 15
    """Imagination horizon H' (paper: 15 on Overcooked)."""
    joint_latents: int = 28
    """(model) Categorical latents shared by both players (paper: 28)."""
    player_latents: int = 4
    """(model) Categorical latents specific to each player (paper: 4)."""
    latent_classes: int = 32
    """(model) Classes per categorical latent (DreamerV3: 32)."""
    deter: int = 256
    """(model) Size of the GRU's deterministic state."""
    model_hidden: int = 256
    """(model) Width of the model's MLPs."""
    reward_head: str = "events"
    """(model) ``events``: heads predict each player's event vector, rewards are predicted
    events @ weights (the paper's choice); ``scalar``: one head predicts the team reward
    (ablation)."""
    model_lr: float = 3e-4
    """Learning rate of the world model."""
    model_updates: int = 4
    """Model updates per iteration (rare events need many updates per collected step)."""
    model_batch: int = 16
    """Sequences per model update."""
    model_seq_len: int = 16
    """Steps per replayed sequence."""
    # ------------------------------------------------------ latent actor-critic
    imagined_starts: int = 256
    """Latent start states imagined from per iteration (each rolls ``horizon`` steps)."""
    actor_hidden: int = 64
    """Width of the latent actor's and the pair critics' layers."""
    actor_layers: int = 2
    """Dense layers of the latent actor and the critics."""
    ppo: PPOConfig = field(default_factory=lambda: PPOConfig(lr=1e-3, ent_coef=0.02))
    """PPO settings of the actor-critic in latent space (one centralised critic per pair)."""
    event_shaping: tuple[tuple[str, float], ...] = ()
    """Shaping ``(event pattern, weight)`` pairs added to imagined and real training rewards
    (annealed to 0 over Phase 1); the reported SP/XP returns are always sparse."""

    def check(self) -> None:
        """Reject invalid settings with a message naming the field."""
        self.check_objective()
        for name, value, accepted in (
            ("phase1_mode", self.phase1_mode, PHASE1_MODES),
            ("reward_head", self.reward_head, REWARD_HEADS),
        ):
            if value not in accepted:
                raise ConfigError(
                    f"{name} {value!r} is not accepted; accepted: {', '.join(accepted)}"
                )
        if not 0.0 <= self.real_xp_fraction < 1.0:
            raise ConfigError(f"real_xp_fraction must be in [0, 1), got {self.real_xp_fraction}")
        if self.kl_gamma < 0:
            raise ConfigError(f"kl_gamma must be >= 0, got {self.kl_gamma}")
        if self.horizon < 1:
            raise ConfigError(f"horizon must be >= 1, got {self.horizon}")


def _check_preset(name: str) -> None:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; accepted: {', '.join(PRESETS)}")


def wm_preset(name: str, env_id: str) -> WMConfig:
    """The named XPM-WM preset for ``env_id``."""
    _check_preset(name)
    family = env_family(env_id)
    if family == "MPPMR":
        return _wm_mppmr(name)
    if family == "Overcooked":
        return _wm_overcooked(name)
    return {
        "smoke": WMConfig(
            phase1_max_env_steps=8_000, member_iterations=4, deter=64, model_hidden=64,
            latent_classes=8, joint_latents=6, player_latents=2, imagined_starts=64,
        ),
        "default": WMConfig(),
        "paper": WMConfig(phase1_max_env_steps=20_000_000, member_iterations=2_000),
    }[name]  # fmt: skip


def _wm_mppmr(name: str) -> WMConfig:
    # MPPMR episodes last at most 16 steps, so a 15-step imagination covers a whole episode
    # from the start state; the model is CPU-sized (REFERENCES.md section 5).
    small = dict(deter=128, model_hidden=128, latent_classes=8, event_shaping=MPPMR_SHAPING)
    if name == "smoke":
        return WMConfig(
            phase1_max_env_steps=12_000, member_iterations=6, joint_latents=6,
            player_latents=2, imagined_starts=128, real_envs=8, model_updates=2, **small,
        )  # fmt: skip
    if name == "default":
        return WMConfig(
            phase1_max_env_steps=60_000, member_iterations=60, joint_latents=12,
            player_latents=4, **small,
        )  # fmt: skip
    return WMConfig(phase1_max_env_steps=400_000, member_iterations=300)


def _wm_overcooked(name: str) -> WMConfig:
    if name == "smoke":
        return WMConfig(
            phase1_max_env_steps=4_000, member_iterations=2, deter=64, model_hidden=64,
            latent_classes=8, joint_latents=6, player_latents=2, imagined_starts=32,
            real_envs=4, real_rollout_steps=50, sp_target=1.0, model_updates=1,
        )  # fmt: skip
    if name == "default":
        return WMConfig(
            phase1_max_env_steps=3_000_000, member_iterations=300, real_envs=16,
            real_rollout_steps=100, sp_target=100.0, latent_classes=16,
        )  # fmt: skip
    # The paper's scale: H' = 15, 28 + 4 latents of 32 classes, Phase 1 at tens of millions
    # of steps (20-80M per Overcooked layout).
    return WMConfig(
        phase1_max_env_steps=40_000_000, member_iterations=5_000, real_envs=64,
        real_rollout_steps=400, sp_target=200.0, deter=512, model_hidden=512,
        imagined_starts=1024,
    )  # fmt: skip


def sim_preset(name: str, env_id: str) -> SimConfig:
    """The named XPM-Sim preset for ``env_id``."""
    _check_preset(name)
    family = env_family(env_id)
    if family == "MPPMR":
        return _sim_mppmr(name)
    steps = {"smoke": 20_000, "default": 1_000_000, "paper": 10_000_000}[name]
    return SimConfig(env_steps=steps)


def _sim_mppmr(name: str) -> SimConfig:
    ppo = PPOConfig(lr=1e-3, ent_coef=0.02, epochs=4, minibatches=4)
    steps = {"smoke": 80_000, "default": 400_000, "paper": 2_000_000}[name]
    return SimConfig(
        env_steps=steps,
        num_envs=128,
        rollout_steps=16 if name == "smoke" else 32,
        shaping_anneal_steps=steps // 2,
        event_shaping=MPPMR_SHAPING,
        ppo=ppo,
    )
