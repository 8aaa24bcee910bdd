"""Score one population file under a protocol: the engine behind ``xpm-bench evaluate``.

Steps: check everything that can fail before any episode is played (the file, the env fit,
the device, the protocol's ego settings against the env, and that a holdout recipe covers
this env); build or load the holdout set; play the cross-play matrix (every ordered pair,
both seats, plus each member with an idle partner); compute the population metrics with
bootstrap intervals; read the sample cost from the ledger; train an ego agent against the
population and score it against the holdout partners in both seats. ``skip_holdout`` scores
only what needs no holdout set (everything but the ego), and the result lists what was
skipped. Determinism is configured as for ``generate`` (deterministic torch kernels, a fixed
thread count), so the same file scored twice on one machine gives the same result apart from
``timings_s``. The result is a plain, versioned, JSON-ready dict.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xpm_bench import __version__
from xpm_bench.errors import PopulationFileError
from xpm_bench.evaluation.crossplay import (
    CrossPlayResult,
    evaluation_seed,
    population_metrics,
    run_crossplay,
)
from xpm_bench.evaluation.holdout import (
    HASH_COMPARISON,
    HoldoutRecipe,
    HoldoutSet,
    build_holdout,
    recipe_for,
)
from xpm_bench.evaluation.metrics import bootstrap_ci
from xpm_bench.evaluation.protocol import Protocol, get_protocol, protocol_record
from xpm_bench.generators.config import config_to_dict
from xpm_bench.generators.harness import configure_determinism
from xpm_bench.population import Population, load_population
from xpm_bench.registry import check_device, make
from xpm_bench.rollout import play_pairs
from xpm_bench.runtime import machine_fingerprint
from xpm_bench.seeding import child_seed
from xpm_bench.stats import interquartile_mean

# v2: the ego's full training settings in ``ego.config`` and the protocol, protocol and
# recipe fingerprints, ``skipped``.
RESULT_FORMAT_VERSION = 2
Progress = Callable[[str], None]


def evaluate_file(
    path: str | Path,
    protocol: str | Protocol = "default",
    device: str = "cpu",
    progress: Progress | None = None,
    holdout_cache: str | Path | None = None,
    skip_holdout: bool = False,
    threads: int | None = None,
) -> dict[str, Any]:
    """Evaluate the population stored at ``path``; see the module docstring."""
    digest = file_digest(path)
    population = load_population(path)
    return evaluate_population(
        population, protocol, device, progress, holdout_cache, digest, skip_holdout, threads
    )


def evaluate_population(
    population: Population,
    protocol: str | Protocol = "default",
    device: str = "cpu",
    progress: Progress | None = None,
    holdout_cache: str | Path | None = None,
    population_hash: str = "",
    skip_holdout: bool = False,
    threads: int | None = None,
) -> dict[str, Any]:
    """Evaluate an in-memory population (``population_hash`` identifies its file).

    ``threads``: torch CPU threads for the whole evaluation (None keeps the current setting).
    """
    say = progress or (lambda message: None)
    plan = check_evaluation(population, protocol, device, skip_holdout)
    proto, env = plan.protocol, plan.env
    configure_determinism(threads)
    env_id = population.env_id
    timings: dict[str, float] = {}
    names = [m.name for m in population.members]

    holdout = None
    if plan.holdout_tier is not None:
        start = time.perf_counter()
        holdout = build_holdout(
            env_id, cache_dir=holdout_cache, tier=plan.holdout_tier, progress=say
        )
        timings["holdout_s"] = time.perf_counter() - start

    start = time.perf_counter()
    say(f"cross-play: {len(names)}x{len(names)} pairs x {proto.episodes} episodes")
    policies = population.policies(device=device)
    crossplay = run_crossplay(
        env_id,
        policies,
        proto.episodes,
        proto.seed,
        names,
        device,
        population.env_kwargs,
        proto.max_pairs_per_batch,
    )
    metrics = population_metrics(crossplay, proto.tau, proto.n_boot, proto.alpha, proto.seed)
    timings["crossplay_s"] = time.perf_counter() - start

    ego = None
    if holdout is not None:
        start = time.perf_counter()
        say(f"ego: PPO best response to the population, {proto.ego_env_steps:,} env steps")
        ego = train_and_score_ego(population, proto, holdout, device, say)
        timings["ego_s"] = time.perf_counter() - start

    sample_cost, cost_warnings = sample_cost_of(population)
    return json_safe(
        {
            "result_format_version": RESULT_FORMAT_VERSION,
            "xpm_bench_version": __version__,
            "env_id": env_id,
            "env_kwargs": dict(env.env_kwargs),
            "population": {
                "hash": population_hash,
                "method": population.method,
                "pop_size": len(names),
                "member_names": names,
                "library_version": population.library_version,
            },
            "protocol": protocol_record(env_id, proto),
            "evaluation_seed": evaluation_seed(proto.seed),
            "holdout": None if holdout is None else holdout_record(holdout, plan.recipe),
            "xp_matrix": crossplay.matrix().tolist(),
            "metrics": shape_metrics(metrics),
            "event_profiles": event_profiles(crossplay),
            "sample_cost": sample_cost,
            "ego": ego,
            "skipped": plan.skipped,
            "warnings": cost_warnings,
            "timings_s": timings,
            "machine": machine_fingerprint(device),
        }
    )


@dataclass(frozen=True)
class EvaluationPlan:
    """What :func:`check_evaluation` found.

    Attributes:
        protocol: the protocol to score under.
        env: a one-copy env of the population's env id and keyword arguments.
        recipe: the holdout recipe that scores the ego; None when the ego part is skipped.
        skipped: ``{"part", "reason"}`` for every part left out.
    """

    protocol: Protocol
    env: Any
    recipe: HoldoutRecipe | None
    skipped: list[dict[str, str]]

    @property
    def holdout_tier(self) -> str | None:
        return None if self.recipe is None else self.protocol.holdout_tier


def check_evaluation(
    population: Population, protocol: str | Protocol, device: str, skip_holdout: bool = False
) -> EvaluationPlan:
    """Every check that can fail, before any episode is played or any partner trained.

    The device exists; the protocol exists (and matches its pinned content); the members fit
    the env; the ego's settings fit the trainer and the env (its shaping names real events);
    a holdout recipe covers the env and its keyword arguments. ``skip_holdout`` turns the last
    into a note in ``skipped`` instead of an error.
    """
    check_device(device)
    env_id = population.env_id
    proto = get_protocol(env_id, protocol) if isinstance(protocol, str) else protocol
    env = check_population_fits_env(population)
    skipped: list[dict[str, str]] = []
    if proto.ego is None:
        skipped.append({"part": "ego", "reason": f"protocol {proto.name!r} trains no ego"})
        return EvaluationPlan(proto, env, None, skipped)
    check_ego_settings(proto, env)
    if skip_holdout:
        reason = "skip_holdout was set: the ego is scored against holdout partners"
        skipped.append({"part": "ego", "reason": reason})
        return EvaluationPlan(proto, env, None, skipped)
    recipe = recipe_for(env_id, proto.holdout_tier, population.env_kwargs)
    return EvaluationPlan(proto, env, recipe, skipped)


def check_ego_settings(proto: Protocol, env: Any) -> None:
    """The ego's config rebuilds and its training reward can be formed on ``env``."""
    from xpm_bench.rl.trainer import reward_weights

    config = proto.ego_config()
    reward_weights(env, config.reward_set, 0, config.shaping_anneal_steps, config.event_shaping)


def holdout_record(holdout: HoldoutSet, recipe: HoldoutRecipe) -> dict[str, Any]:
    """The set's summary, its recipe's fingerprint and how to compare both across machines."""
    return {
        **holdout.summary(),
        "recipe_fingerprint": recipe.fingerprint(),
        "hash_comparison": HASH_COMPARISON,
    }


def json_safe(value: Any) -> Any:
    """Replace NaN and infinities (undefined metrics, e.g. a gap when SP is 0) by ``None`` so
    the result is strict JSON."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def file_digest(path: str | Path) -> str:
    """``sha256:<hex>`` of a file's bytes (a missing file is a clear error)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise PopulationFileError(f"population file not found: {path}") from None
    except IsADirectoryError:
        raise PopulationFileError(f"population path is a directory, not a file: {path}") from None
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_population_fits_env(population: Population):
    """Build the population's env and check every member's input and output sizes match it."""
    env = make(population.env_id, num_envs=1, **population.env_kwargs)
    for member in population.members:
        kwargs = member.arch_kwargs
        obs_shape = population.observation_shape(member)  # through a shared model, if any
        if obs_shape is not None and tuple(obs_shape) != tuple(env.observation_shape):
            raise PopulationFileError(
                f"member {member.name!r} expects observations of shape {tuple(obs_shape)} but "
                f"{population.env_id} gives {tuple(env.observation_shape)}: the population was "
                f"made for another environment"
            )
        num_actions = kwargs.get("num_outputs", kwargs.get("num_actions"))
        if num_actions is not None and int(num_actions) != env.num_actions:
            raise PopulationFileError(
                f"member {member.name!r} has {num_actions} actions but {population.env_id} has "
                f"{env.num_actions}: the population was made for another environment"
            )
    return env


def shape_metrics(flat: dict[str, Any]) -> dict[str, Any]:
    """``{name: value, name_ci: [lo, hi]}`` -> ``{name: {"value": v, "ci": [lo, hi]}}``."""
    shaped: dict[str, Any] = {}
    for key, value in flat.items():
        if key.endswith("_ci") or key == "xp_matrix":
            continue
        ci = flat.get(f"{key}_ci")
        shaped[key] = {"value": value, "ci": ci} if ci is not None else value
    return shaped


def event_profiles(crossplay: CrossPlayResult) -> dict[str, Any]:
    """Mean self-play event counts per member (both players summed): ``[M, E]``."""
    m = crossplay.num_members
    sp_events = crossplay.events[np.arange(m), np.arange(m)]  # [M, N, 2, E]
    counts = sp_events.sum(axis=2).mean(axis=1)
    return {"event_names": list(crossplay.event_names), "counts": counts.tolist()}


def sample_cost_of(population: Population) -> tuple[dict[str, Any] | None, list[str]]:
    """The ledger's fields, ``env_steps`` first; a population without one gets a warning."""
    ledger = population.ledger
    if not ledger:
        message = "population has no sample-cost ledger: sample cost is unknown"
        warnings.warn(message, stacklevel=2)
        return None, [message]
    ordered = {"env_steps": ledger.get("env_steps")}
    ordered.update({k: v for k, v in ledger.items() if k != "env_steps"})
    return ordered, []


# ----------------------------------------------------------------------------- ego
def train_and_score_ego(
    population: Population, proto: Protocol, holdout: HoldoutSet, device: str, say: Progress
) -> dict[str, Any]:
    """Train a PPO best response to the population, then score it against each holdout
    partner in both seats."""
    from xpm_bench.rl.ledger import Ledger
    from xpm_bench.rl.trainer import train_best_response

    env_id = population.env_id
    config = proto.ego_config()
    root = evaluation_seed(proto.seed)
    ledger = Ledger()
    ego, _ = train_best_response(
        env_id,
        population.policies(device=device),
        config,
        seed=child_seed(root, 7),
        ledger=ledger,
        device=device,
        env_kwargs=population.env_kwargs,
    )
    say(f"ego: scoring against {len(holdout.partners)} holdout partners")
    partners = holdout.policies()
    pairs = [(ego, p) for _, p in partners] + [(p, ego) for _, p in partners]
    batch = play_pairs(
        env_id,
        pairs,
        proto.episodes,
        seed=child_seed(root, 8),
        device=device,
        env_kwargs=population.env_kwargs,
    )
    team = batch.returns.mean(dim=-1).cpu().numpy().astype(float)  # [2K, N]
    k = len(partners)
    best = {spec.name: spec.params.get("best_response_return") for spec in holdout.partners}
    per_partner = {}
    for i, (name, _) in enumerate(partners):
        seat0, seat1 = team[i], team[k + i]
        both = np.concatenate([seat0, seat1])
        row = {
            "seat0": _summary(seat0, proto),
            "seat1": _summary(seat1, proto),
            "mean": _summary(both, proto),
        }
        if best.get(name):
            row["br_prox"] = float(min(1.0, both.mean() / best[name]))
        per_partner[name] = row
    mean_return = float(team.mean())
    # episodes redrawn within each (partner, seat) cell: the partners are fixed, not sampled
    mean_ci = bootstrap_ci(
        team, np.mean, n_boot=proto.n_boot, seed=proto.seed, alpha=proto.alpha, axis=1
    )
    prox = [row["br_prox"] for row in per_partner.values() if "br_prox" in row]
    return {
        "train_env_steps": int(ledger.env_steps),
        "config": config_to_dict(config),
        "mean_return": mean_return,
        "mean_return_ci": [mean_ci.low, mean_ci.high],
        "br_prox_iqm": interquartile_mean(prox) if prox else None,
        "per_partner": per_partner,
    }


def _summary(samples: np.ndarray, proto: Protocol) -> dict[str, Any]:
    ci = bootstrap_ci(samples, np.mean, n_boot=proto.n_boot, seed=proto.seed, alpha=proto.alpha)
    return {"value": float(samples.mean()), "ci": [ci.low, ci.high]}
