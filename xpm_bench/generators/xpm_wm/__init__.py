"""XPM-WM: cross-play minimisation inside a learned world model (arXiv 2506.07450).

The method (REFERENCES.md section 1; where the paper is silent to us the choice is a field of
:class:`~xpm_bench.generators.xpm_wm.config.XPMWMConfig`, listed in ``docs/methods.md``):

**Phase 1.** A world model W (``xpm_bench.wm``: DreamerV3-style RSSM, latent split into
``joint_latents`` shared and ``player_latents`` per-player categoricals, heads for the
observation, each player's event vector and continuation) and agent 0 train together from
real self-play. Real SP episodes of agent 0 go into the replay buffer B_SP, the model trains
on replay, and agent 0 learns in imagination, on real data or both (``phase1_mode``). The
phase ends when agent 0's real SP return reaches ``sp_target`` (or at
``phase1_max_env_steps``).

**Phase 2, for m = 1..M-1, earlier agents frozen.** Each iteration:

1. Fine-tune W on sequences from B_SP and B_XP with a KL penalty towards the previous model
   W⁻ (a frozen copy of W taken when member m starts, i.e. the model member m-1 finished
   with), so that the latents the frozen agents were trained on stay valid::

       L_ft(θ) = E_{x ~ B_SP ∪ B_XP} [ L_W(θ; x) ]
                 + kl_gamma · E_{x, t} [ KL( q_θ⁻(z_t | h⁻_t, o_t) ‖ q_θ(z_t | h_t, o_t) ) ]

   ``x`` is a replayed real sequence of observations, joint actions, events and
   terminations; ``L_W`` is the model's own loss (prediction losses of observation, events
   and continuation, plus DreamerV3's balanced dynamics/representation KL); ``h_t``/``h⁻_t``
   are the two models' deterministic states when each filters the same sequence ``x``; the
   KL is between their posterior distributions over every categorical latent, summed over
   latents and averaged over batch and time, with the frozen posterior first (mass-covering:
   wherever the old model put a latent, the new one must still put mass). The posterior is
   what a frozen member's actor reads (its features), so this pins the representation
   itself, not only the predictions.
   ``kl_gamma = 0`` removes the regulariser (an ablation).
2. Imagine self-play of pi_m for ``horizon`` steps from latent start states: posterior
   states of real replayed sequences, and (``xp_state_expansion``) latent states visited in
   the imagined cross-play of step 3 (:class:`~xpm_bench.generators.xpm_wm.states.StateBank`).
3. Imagine cross-play of pi_m with each frozen pi_j, pi_m in both seats.
4. Update pi_m (PPO in latent space, one centralised critic per pair of seated agents) on
   the objective SP - lambda_xp · max_j XP_j over imagined returns (a softmax over j with
   ``partner_selection=softmax``).
5. Collect real SP episodes of pi_m into B_SP (the only real steps of Phase 2 by default;
   ``real_xp_fraction`` > 0 adds real XP episodes to B_XP, ledgered as ``xp``).

Members are world-model-feature actors; the final model is stored once in the population's
``shared`` section. Each member's ``info`` holds its real SP return measured through the
final model and through the model it was trained with: the drift the KL penalty limits.

``xpm-sim`` (:mod:`xpm_bench.generators.xpm_sim`) is the same objective with imagination
replaced by the real simulator.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from xpm_bench.errors import ConfigError
from xpm_bench.generators.config import config_to_dict
from xpm_bench.generators.harness import Harness
from xpm_bench.generators.xpm_wm.config import PRESETS, XPMWMConfig, wm_preset
from xpm_bench.generators.xpm_wm.member import MemberRun, actor_kwargs
from xpm_bench.generators.xpm_wm.population import (
    build_population,
    feature_policy,
    measure_drift,
)
from xpm_bench.population import Population
from xpm_bench.registry import make
from xpm_bench.rl.ledger import Ledger
from xpm_bench.seeding import child_seed, spawn_seeds
from xpm_bench.wm.model import WorldModel
from xpm_bench.wm.train import WMTrainer, replay_for

METHOD = "xpm-wm"
Config = XPMWMConfig
__all__ = ["METHOD", "PRESETS", "Config", "generate", "members_from_state", "preset"]


def preset(name: str, env_id: str) -> XPMWMConfig:
    """The named preset for ``env_id`` (``smoke``, ``default`` or ``paper``)."""
    return wm_preset(name, env_id)


def generate(
    env_id: str,
    pop_size: int,
    config: XPMWMConfig,
    seed: int,
    ledger: Ledger | None = None,
    callbacks: Harness | None = None,
) -> Population:
    """Phase 1, then Phase 2 for members 1..M-1; see the module docstring."""
    if pop_size < 1:
        raise ConfigError(f"pop-size must be >= 1, got {pop_size}")
    config.check()
    harness = callbacks if callbacks is not None else Harness(ledger=ledger)
    member_seeds = spawn_seeds(seed, pop_size)
    wm = _world_model(env_id, config, seed, harness.device)
    latent_arch = actor_kwargs(config, wm.model)
    resumed = harness.resume_state or {"members": [], "current": None}
    if harness.resume_state is not None:
        wm.load_state_dict(resumed["wm"])
    finished: list[dict[str, Any]] = list(resumed["members"])
    for index in range(len(finished), pop_size):
        current = resumed["current"]
        current = current if current and current["index"] == index else None
        finished.append(
            _train_member(
                harness,
                env_id,
                config,
                index,
                member_seeds[index],
                wm,
                latent_arch,
                finished,
                current,
            )  # fmt: skip
        )
        harness.boundary(lambda: _state(wm, latent_arch, finished, None), force=True)
    arch, kwargs = latent_arch
    drift = measure_drift(harness, env_id, wm.model, finished, arch, kwargs, seed)
    return build_population(env_id, METHOD, config_to_dict(config), seed, member_seeds,
                            harness.ledger.to_dict(), wm.model, finished, drift, arch, kwargs)  # fmt: skip


def _world_model(env_id: str, config: XPMWMConfig, seed: int, device: str) -> WMTrainer:
    """A fresh model (initialised from ``seed`` alone), its replay and trainer."""
    probe = make(env_id, num_envs=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(child_seed(seed, 1000))
        model = WorldModel.for_env(probe, config.model).to(device)
    sparse = probe.reward_weight_tensor("sparse")[0, 0]
    paying = [name for name, w in zip(probe.event_names, sparse.tolist(), strict=True) if w]
    replay = replay_for(model, config.replay_capacity, paying, seed=child_seed(seed, 1001))
    return WMTrainer(model, replay, seed=child_seed(seed, 1002))


def _state(
    wm: WMTrainer, arch: Any, finished: list[dict[str, Any]], current: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "wm": wm.state_dict(),
        "members": list(finished),
        "current": current,
        # what members_from_state needs to rebuild the finished members without the config
        "model_spec": wm.model.spec(),
        "actor_arch": arch,
    }


def members_from_state(state: dict[str, Any] | None, device: str = "cpu") -> list[Any]:
    """Policies of the finished members in a checkpointed generator state, acting through
    the state's current model (as the population file would have them); for callbacks
    that score a run while it goes (the study's cost-to-target monitor)."""
    if not state or not state.get("members"):
        return []
    model = WorldModel.from_spec(dict(state["model_spec"]))
    model.load_state_dict(state["wm"]["model"])
    arch, kwargs = state["actor_arch"]
    return [
        feature_policy(model, arch, kwargs, m["actor"], i, device)
        for i, m in enumerate(state["members"])
    ]


def _train_member(
    harness: Harness,
    env_id: str,
    config: XPMWMConfig,
    index: int,
    seed: int,
    wm: WMTrainer,
    latent_arch: Any,
    finished: list[dict[str, Any]],
    current: dict[str, Any] | None,
) -> dict[str, Any]:
    previous = None
    if index > 0:  # the model as member m starts: the KL anchor of its fine-tuning
        previous = copy.deepcopy(wm.model).eval()
        if current is not None:
            previous.load_state_dict(current["previous"])
        for p in previous.parameters():
            p.requires_grad_(False)
    frozen = [m["actor"] for m in finished]
    run = MemberRun(harness, env_id, config, index, seed, wm, frozen, previous)
    if current is not None:
        run.load_state_dict(current["run"])
    else:
        run.start()
    phase = 1 if index == 0 else 2
    while not run.done:
        metrics = run.iterate()
        harness.report({"phase": phase, "member": index, "update": run.iteration,
                        "imagined": harness.ledger.imagined_steps, **metrics})  # fmt: skip
        harness.boundary(
            lambda: _state(
                wm,
                latent_arch,
                finished,
                {
                    "index": index,
                    "run": run.state_dict(),
                    "previous": None if previous is None else previous.state_dict(),
                },
            )  # fmt: skip
        )
    return {
        "name": f"{METHOD}-{index}",
        "seed": int(seed),
        "actor": {k: v.detach().cpu().clone() for k, v in run.learner.actor.state_dict().items()},
        "model": {k: v.detach().cpu().clone() for k, v in wm.model.state_dict().items()},
        "info": {
            "phase": phase,
            "iterations": run.iteration,
            "real_sp_training": run.real_sp[-1] if run.real_sp else None,
            "imagined_sp": run.objective.recent_sp[-1] if run.objective.recent_sp else None,
            "xp_estimates": [float(v) for v in run.objective.estimates.values],
            "xp_term_on": bool(run.objective.gate_open),
            "xp_state_starts": int(run.env.restarts),
        },
    }
