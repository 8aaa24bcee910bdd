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
from xpm_bench.wm.config import WMConfig
from xpm_bench.wm.config import preset as wm_model_preset

PRESETS = ("smoke", "default", "paper")
PARTNER_SELECTIONS = ("max", "softmax")
PHASE1_MODES = ("imagination", "real", "both")
IMAGINE_FROM = ("reset", "replay")


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
    xp_gate_sp: float = 0.2
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
class XPMWMConfig(XPMObjective):
    """XPM-WM: the XPM objective on returns imagined in a world model shared by all members.

    ``model`` sizes the world model (:class:`xpm_bench.wm.config.WMConfig`: latent split
    ``joint_latents``/``player_latents``, ``classes``, ``reward_head``, its optimiser and
    replay batch); the other fields drive the two phases. The ``XPMObjective`` fields set
    the objective.
    """

    model: WMConfig = field(default_factory=WMConfig)
    """The world model's settings (``--set model.reward_head=scalar`` etc.)."""
    # ----------------------------------------------------------------- phase 1
    phase1_mode: str = "imagination"
    """How agent 0 learns in Phase 1: ``imagination`` (PPO on imagined SP only; real
    episodes only feed the model), ``real`` (PPO on its real SP steps seen through the
    model's filter; no imagination) or ``both`` (one PPO update on each per iteration)."""
    sp_target: float = 0.9
    """Phase 1 ends once agent 0's mean real SP team return (sparse reward, last
    ``target_window`` iterations) reaches this."""
    target_window: int = 5
    """Iterations averaged for the ``sp_target`` test."""
    phase1_max_iterations: int = 200
    """Cap on Phase-1 iterations if ``sp_target`` is never met (the run goes on regardless)."""
    phase1_min_iterations: int = 10
    """Phase 1 runs at least this many iterations (the model needs data before the target
    can be trusted)."""
    # ----------------------------------------------------------------- phase 2
    member_iterations: int = 60
    """Iterations per Phase-2 member; each fine-tunes the model, imagines SP and XP,
    updates pi_m and collects real SP episodes of pi_m."""
    kl_gamma: float = 1.0
    """Weight of the KL penalty that keeps the fine-tuned model's posterior latents close to
    the previous model's (the fine-tuning equation in the package docstring); 0 turns the
    regulariser off (ablation)."""
    real_xp_fraction: float = 0.0
    """Share of each iteration's real env copies in which pi_m plays a frozen partner (into
    B_XP, ledgered ``xp``). 0: only real SP in Phase 2, as in the paper."""
    # ------------------------------------------------------------ real data
    real_envs: int = 16
    """Env copies of each iteration's real collection."""
    real_rollout_steps: int = 16
    """Steps per copy of each iteration's real collection."""
    replay_capacity: int = 1024
    """Records kept per env copy in each replay buffer (B_SP and B_XP)."""
    warmup_iterations: int = 2
    """Real collections made before the first model update (a random-ish agent 0)."""
    # ---------------------------------------------------------------- model use
    horizon: int = 15
    """Imagination horizon H' (paper: 15 on Overcooked)."""
    imagine_from: str = "reset"
    """Where imagined SP starts: ``reset`` (real first observations, filtered: exact when the
    horizon covers an episode, as on MPPMR) or ``replay`` (posteriors at the end of replayed
    real windows: anywhere in an episode, for long episodes such as Overcooked's)."""
    model_updates: int = 4
    """Model (fine-tuning) updates per iteration."""
    # ------------------------------------------------------ latent actor-critic
    imagined_envs: int = 256
    """Imagined env copies (latent start states) per iteration; each plays ``horizon``
    steps per update."""
    actor_hidden: int = 64
    """Width of the latent actor's and the pair critics' layers."""
    actor_layers: int = 2
    """Dense layers of the latent actor and the critics."""
    ppo: PPOConfig = field(default_factory=lambda: PPOConfig(lr=1e-3, ent_coef=0.02))
    """PPO settings of the actor-critic in latent space (one centralised critic head per
    pair of seated agents: the ``sp`` and ``xp:<j>:<seat>`` streams)."""
    event_shaping: tuple[tuple[str, float], ...] = ()
    """Shaping ``(event pattern, weight)`` pairs added to the imagined SP reward, annealed to 0
    over each member's iterations; XP and all reported returns are sparse."""

    def check(self) -> None:
        """Reject invalid settings with a message naming the field."""
        self.check_objective()
        for name, value, accepted in (
            ("phase1_mode", self.phase1_mode, PHASE1_MODES),
            ("imagine_from", self.imagine_from, IMAGINE_FROM),
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


def wm_preset(name: str, env_id: str) -> XPMWMConfig:
    """The named XPM-WM preset for ``env_id``."""
    _check_preset(name)
    family = env_family(env_id)
    if family == "MPPMR":
        return _wm_mppmr(name)
    if family == "Overcooked":
        return _wm_overcooked(name)
    return {
        "smoke": XPMWMConfig(
            model=wm_model_preset("smoke"), phase1_max_iterations=8, member_iterations=4,
            imagined_envs=64,
        ),
        "default": XPMWMConfig(),
        "paper": XPMWMConfig(model=wm_model_preset("paper"), member_iterations=2_000),
    }[name]  # fmt: skip


# The world model's fast-learning MPPMR settings (measured by the world-model tests: >= 0.99
# held-out next-step event accuracy after 400-600 updates).
_MPPMR_MODEL = {"lr": 2e-3, "seq_len": 8, "batch_size": 16, "classes": 16}


def _wm_mppmr(name: str) -> XPMWMConfig:
    # An MPPMR episode lasts at most 16 steps, so imagining 16 steps from the real start
    # state covers a whole episode exactly (imagine_from=reset).
    common = dict(horizon=16, imagine_from="reset", event_shaping=MPPMR_SHAPING)
    if name == "smoke":
        return XPMWMConfig(
            model=wm_model_preset("smoke", **_MPPMR_MODEL), phase1_max_iterations=40,
            member_iterations=20, imagined_envs=128, real_envs=8, model_updates=4, **common,
        )  # fmt: skip
    if name == "default":
        return XPMWMConfig(
            model=wm_model_preset("smoke", **_MPPMR_MODEL), phase1_max_iterations=150,
            member_iterations=60, **common,
        )  # fmt: skip
    return XPMWMConfig(
        model=wm_model_preset("paper"), phase1_max_iterations=2_000, member_iterations=500,
        imagined_envs=1024, **common,
    )  # fmt: skip


def _wm_overcooked(name: str) -> XPMWMConfig:
    common = dict(imagine_from="replay", horizon=15)
    if name == "smoke":
        return XPMWMConfig(
            model=wm_model_preset("smoke"), phase1_max_iterations=4, phase1_min_iterations=1,
            member_iterations=2, imagined_envs=32, real_envs=4, real_rollout_steps=50,
            sp_target=1.0, model_updates=1, **common,
        )  # fmt: skip
    if name == "default":
        return XPMWMConfig(
            phase1_max_iterations=2_000, member_iterations=300, real_envs=16,
            real_rollout_steps=100, sp_target=100.0, **common,
        )  # fmt: skip
    # The paper's scale: H' = 15, 28 + 4 latents of 32 classes, Phase 1 at tens of millions of
    # real steps (20-80M per Overcooked layout): 64 copies x 400 steps x 1,500 iterations.
    return XPMWMConfig(
        model=wm_model_preset("paper"), phase1_max_iterations=1_500, member_iterations=2_000,
        real_envs=64, real_rollout_steps=400, sp_target=200.0, imagined_envs=1024, **common,
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
