"""The cross-play runner: every seat assignment of every pair of members, in one batched env.

For a population of ``M`` policies, :func:`run_crossplay` plays ``N`` episodes of

- every ordered pair ``(a, b)``, member ``a`` in seat 0 and ``b`` in seat 1 (``M * M`` seat
  assignments: self-play on the diagonal, and each pair of distinct members in both seats);
- every member with an idle partner (a :class:`~xpm_bench.agents.ConstantPolicy` that always
  takes the env's ``stay`` action) in each seat (``2 * M`` assignments),

all as rows of one batched env (:func:`xpm_bench.rollout.play_pairs`), and returns the
per-episode arrays that :mod:`xpm_bench.evaluation.metrics` consumes.

Evaluation seeds: the root seed of an evaluation is ``EVAL_SEED_OFFSET + protocol_seed``
(``EVAL_SEED_OFFSET = 10**9``). Training seeds must stay below it
(:func:`xpm_bench.seeding.check_training_seed`, applied by the generator runner), so evaluation
and training never share a root seed; every seed
used inside an evaluation (env reset, each member's ``reseed``) is derived from the evaluation
root with ``numpy.random.SeedSequence`` and therefore never collides with a training stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from xpm_bench.agents.base import ConstantPolicy, Policy
from xpm_bench.errors import ConfigError
from xpm_bench.evaluation import metrics as mx
from xpm_bench.registry import make
from xpm_bench.rollout import play_pairs
from xpm_bench.seeding import EVAL_SEED_OFFSET, child_seed

# Spawn-key branches under the evaluation root seed.
_ENV_BRANCH, _MEMBER_BRANCH = 0, 1


def evaluation_seed(protocol_seed: int = 0) -> int:
    """The root seed of evaluation run ``protocol_seed`` (>= ``EVAL_SEED_OFFSET``)."""
    if protocol_seed < 0:
        raise ConfigError(f"evaluation protocol seed must be >= 0, got {protocol_seed}")
    return EVAL_SEED_OFFSET + int(protocol_seed)


def stay_action(action_names: Sequence[str]) -> int:
    """Index of the ``stay`` action (the idle partner's only action)."""
    names = [name.lower() for name in action_names]
    if "stay" not in names:
        raise ConfigError(f"environment has no 'stay' action to build an idle partner: {names}")
    return names.index("stay")


@dataclass
class CrossPlayResult:
    """Per-episode results of a cross-play run (numpy arrays; see ``metrics`` for shapes).

    Attributes:
        env_id: the full versioned env id.
        names: ``[M]`` member names.
        event_names: ``[E]`` the env's event names.
        seed: the evaluation root seed.
        episodes: ``N``, episodes per seat assignment.
        returns: ``[M, M, N]`` team return (mean of both seats), row member in seat 0.
        seat_returns: ``[M, M, N, 2]`` each seat's return.
        lengths: ``[M, M, N]`` episode lengths.
        events: ``[M, M, N, 2, E]`` event counts per seat.
        quit: ``[M, M, N]`` bool, episode ended with a quit (all False without a ``quit`` event).
        idle_returns: ``[M, 2, N]`` member ``m`` in seat ``s`` with an idle partner.
        idle_events: ``[M, 2, N, 2, E]`` event counts of those episodes, per seat.
        idle_action: the idle partner's action.
        env_kwargs: keyword arguments the env was built with.
    """

    env_id: str
    names: list[str]
    event_names: list[str]
    seed: int
    episodes: int
    returns: np.ndarray
    seat_returns: np.ndarray
    lengths: np.ndarray
    events: np.ndarray
    quit: np.ndarray
    idle_returns: np.ndarray
    idle_events: np.ndarray
    idle_action: int
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def num_members(self) -> int:
        return len(self.names)

    def matrix(self) -> np.ndarray:
        """``[M, M]`` mean team return, row member in seat 0 (diagonal = SP)."""
        return mx.pair_means(self.returns)


def run_crossplay(
    env_id: str,
    policies: Sequence[Policy],
    episodes: int = 16,
    protocol_seed: int = 0,
    names: Sequence[str] | None = None,
    device: str = "cpu",
    env_kwargs: dict[str, Any] | None = None,
    max_pairs_per_batch: int | None = None,
) -> CrossPlayResult:
    """Play every seat assignment of every pair of ``policies`` and each member with an idle
    partner, ``episodes`` episodes each, on evaluation seeds (see the module docstring).

    All ``M * M + 2 * M`` assignments run as rows of one batched env, unless
    ``max_pairs_per_batch`` splits them into several calls (to bound memory).
    Stochastic members are reseeded (``reseed``) from the evaluation root seed first, so the
    result is a function of ``(policies, episodes, protocol_seed)``.
    """
    m = len(policies)
    if m < 1:
        raise ConfigError("cross-play needs at least one policy")
    if episodes < 1:
        raise ConfigError(f"episodes must be >= 1, got {episodes}")
    names = [str(n) for n in names] if names is not None else [f"member{i}" for i in range(m)]
    if len(names) != m:
        raise ConfigError(f"got {len(names)} names for {m} policies")
    root = evaluation_seed(protocol_seed)
    probe = make(env_id, num_envs=1, device=device, **(env_kwargs or {}))
    idle_action = stay_action(probe.action_names)
    idle = ConstantPolicy(idle_action)
    for i, policy in enumerate(policies):
        reseed = getattr(policy, "reseed", None)
        if reseed is not None:
            reseed(child_seed(root, _MEMBER_BRANCH, i))

    pairs = [(policies[a], policies[b]) for a in range(m) for b in range(m)]
    pairs += [(policies[i], idle) for i in range(m)] + [(idle, policies[i]) for i in range(m)]
    batch = _play_in_chunks(env_id, pairs, episodes, root, device, env_kwargs, max_pairs_per_batch)

    seat_returns = batch["returns"]  # [P, N, 2]
    team = seat_returns.mean(axis=-1)
    events = batch["events"]  # [P, N, 2, E]
    event_names = list(probe.event_names)
    quit = (
        mx.quit_flags(events, event_names.index("quit"))
        if "quit" in event_names
        else np.zeros(team.shape, dtype=bool)
    )
    mm = m * m
    idle_team = team[mm:].reshape(2, m, episodes).transpose(1, 0, 2)  # [M, 2 seats, N]
    idle_events = events[mm:].reshape(2, m, episodes, 2, -1).transpose(1, 0, 2, 3, 4)
    return CrossPlayResult(
        env_id=env_id,
        names=names,
        event_names=event_names,
        seed=root,
        episodes=episodes,
        returns=team[:mm].reshape(m, m, episodes),
        seat_returns=seat_returns[:mm].reshape(m, m, episodes, 2),
        lengths=batch["lengths"][:mm].reshape(m, m, episodes),
        events=events[:mm].reshape(m, m, episodes, 2, -1),
        quit=quit[:mm].reshape(m, m, episodes),
        idle_returns=idle_team,
        idle_events=idle_events,
        idle_action=idle_action,
        env_kwargs=dict(probe.env_kwargs),
    )


def _play_in_chunks(
    env_id: str,
    pairs: list[tuple[Policy, Policy]],
    episodes: int,
    root: int,
    device: str,
    env_kwargs: dict[str, Any] | None,
    max_pairs: int | None,
) -> dict[str, np.ndarray]:
    size = len(pairs) if not max_pairs else max(1, int(max_pairs))
    parts: dict[str, list[np.ndarray]] = {"returns": [], "events": [], "lengths": []}
    for chunk, start in enumerate(range(0, len(pairs), size)):
        result = play_pairs(
            env_id,
            pairs[start : start + size],
            episodes=episodes,
            seed=child_seed(root, _ENV_BRANCH, chunk),
            device=device,
            env_kwargs=env_kwargs,
        )
        parts["returns"].append(_np(result.returns))
        parts["events"].append(_np(result.events))
        parts["lengths"].append(_np(result.lengths))
    return {key: np.concatenate(value, axis=0) for key, value in parts.items()}


def _np(t: torch.Tensor) -> np.ndarray:
    arr = t.detach().cpu().numpy()
    return arr.astype(np.float64) if arr.dtype.kind == "f" else arr


def population_metrics(
    result: CrossPlayResult,
    tau: float = 0.5,
    n_boot: int = 0,
    alpha: float = 0.05,
    bootstrap_seed: int = 0,
) -> dict[str, Any]:
    """Every population metric of ``result`` as a plain dict (JSON-ready numbers).

    MPPMR-only ground truth (``landmarks_used``) appears when the env has landmark and
    rendezvous events; ``self_sabotage_rate`` whenever it has a ``quit`` event. With
    ``n_boot > 0`` each scalar metric also gets ``{name}_ci``: a percentile bootstrap interval
    over episodes (:func:`metrics.bootstrap_ci`).
    """
    classes = mx.compatibility_classes(result.returns, tau)
    out: dict[str, Any] = {
        "num_members": result.num_members,
        "episodes": result.episodes,
        "sp_mean": mx.sp_mean(result.returns),
        "xp_mean": mx.xp_mean(result.returns),
        "sp_xp_gap": mx.sp_xp_gap(result.returns),
        "normalised_gap": mx.normalised_gap(result.returns),
        "compatibility_tau": tau,
        "compatibility_classes": classes.count,
        "compatibility_labels": classes.labels.tolist(),
        "bad_faith_rate": mx.bad_faith_rate(result.returns, result.idle_returns),
        "event_profile_diversity": mx.event_profile_diversity(result.events),
        "xp_matrix": result.matrix().tolist(),
    }
    # (metric name, function, arrays it takes) for the bootstrap
    scalar: list[tuple[str, Any, tuple[np.ndarray, ...]]] = [
        ("sp_mean", mx.sp_mean, (result.returns,)),
        ("xp_mean", mx.xp_mean, (result.returns,)),
        ("sp_xp_gap", mx.sp_xp_gap, (result.returns,)),
        ("normalised_gap", mx.normalised_gap, (result.returns,)),
        ("bad_faith_rate", mx.bad_faith_rate, (result.returns, result.idle_returns)),
        ("event_profile_diversity", mx.event_profile_diversity, (result.events,)),
    ]
    if "quit" in result.event_names:
        out["self_sabotage_rate"] = mx.self_sabotage_rate(result.quit)
        scalar.append(("self_sabotage_rate", mx.self_sabotage_rate, (result.quit,)))
    try:
        idx = mx.mppmr_event_indices(result.event_names)
    except ValueError:
        idx = None
    if idx is not None:
        out["landmarks_used"] = mx.landmarks_used(
            result.events, idx["landmarks"], idx["rendezvous"]
        )
    if n_boot > 0:
        for name, fn, arrays in scalar:
            ci = mx.bootstrap_ci(
                arrays, fn, n_boot=n_boot, seed=bootstrap_seed, alpha=alpha, axis=2
            )
            out[f"{name}_ci"] = [ci.low, ci.high]
    return out
