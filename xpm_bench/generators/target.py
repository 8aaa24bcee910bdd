"""Cost to target: the reproduction study's cost protocol, defined once here.

A method's cost is the ledger at the first point its population meets its env's
:class:`Target`, checked on held-out episodes at regular points during generation by a
:class:`TargetMonitor` (a harness callback). The check's episodes run on a plain, unmetered
env (:func:`~xpm_bench.evaluation.crossplay.run_crossplay`), so they are never charged to the
ledger; their count is reported separately (``eval_episodes``). A run whose population never
meets the target within the cap is *censored at the cap* (:func:`cost_outcome`), never
dropped.

Targets (issue #16):

- MPPMR: every member's SP return >= 0.95, ``landmarks_used`` = min(M, 4), and, for M <= 4,
  mean XP <= 0.05 (each member a distinct convention);
- OvercookedClassic-CrampedRoom: every member's sparse SP return >= 100.

Which population exists mid-run is the generator's business: :func:`members_from_state`
reads the finished members from the generator state the harness checkpoints (the
``members`` list every sequential generator here keeps). A population with fewer than M
finished members does not meet the target, so for generators that train each member for a
fixed budget the target can first be met once the last member is done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from xpm_bench.agents.base import Policy
from xpm_bench.errors import ConfigError
from xpm_bench.population import Member, Population

_HELD_OUT_PROTOCOL_SEED = 16  # not the evaluator's seed (0): the check's episodes are its own


@dataclass(frozen=True)
class Target:
    """What a population must reach for its cost to be read.

    Attributes:
        env_id: the versioned env id the target is for.
        member_sp_min: every member's mean SP team return (sparse reward) must be >= this.
        landmarks: require ``landmarks_used == min(M, landmarks)`` (MPPMR's 4 conventions);
            0 for no landmark condition.
        xp_max: mean cross-play return must be <= this, for populations of at most
            ``xp_max_pop_size`` members (None: no XP condition).
        xp_max_pop_size: the largest M the XP condition applies to.
        cap_per_member: the censoring cap is this many real env steps per member (the same
            for every method at a given M; 2.5x the ``sp`` default preset's budget).
    """

    env_id: str
    member_sp_min: float
    landmarks: int = 0
    xp_max: float | None = None
    xp_max_pop_size: int = 0
    cap_per_member: int = 1_000_000

    def cap(self, pop_size: int) -> int:
        """The censoring cap in real env steps for a population of ``pop_size``."""
        return self.cap_per_member * int(pop_size)

    def describe(self) -> str:
        """One line for tables and docs."""
        parts = [f"every member SP >= {self.member_sp_min:g}"]
        if self.landmarks:
            parts.append(f"landmarks_used = min(M, {self.landmarks})")
        if self.xp_max is not None:
            parts.append(f"XP <= {self.xp_max:g} for M <= {self.xp_max_pop_size}")
        return ", ".join(parts)


TARGETS: dict[str, Target] = {
    t.env_id: t
    for t in (
        Target(
            "MPPMR-v0",
            member_sp_min=0.95,
            landmarks=4,
            xp_max=0.05,
            xp_max_pop_size=4,
            cap_per_member=1_000_000,
        ),
        Target("OvercookedClassic-CrampedRoom-v0", member_sp_min=100.0, cap_per_member=7_500_000),
    )  # fmt: skip
}


def target_for(env_id: str) -> Target:
    """The study's target for ``env_id``; a one-line error naming the envs that have one."""
    if env_id not in TARGETS:
        raise ConfigError(
            f"no cost-to-target target for env {env_id!r} (targets: {', '.join(TARGETS)})"
        )
    return TARGETS[env_id]


@dataclass(frozen=True)
class TargetScores:
    """What the target check reads from one cross-play run of a population.

    Attributes:
        member_sp: each member's mean SP team return.
        xp_mean: mean off-diagonal (cross-play) team return; nan for one member.
        landmarks_used: distinct landmarks hosting an SP rendezvous (MPPMR), else None.
    """

    member_sp: tuple[float, ...]
    xp_mean: float
    landmarks_used: int | None = None


def unmet_conditions(target: Target, scores: TargetScores, pop_size: int) -> list[str]:
    """The target's conditions ``scores`` fail, as short phrases; empty means met.

    A population with fewer than ``pop_size`` members never meets the target.
    """
    have = len(scores.member_sp)
    if have < pop_size:
        return [f"{have} of {pop_size} members finished"]
    unmet = []
    low = [i for i, sp in enumerate(scores.member_sp) if not sp >= target.member_sp_min]
    if low:
        unmet.append(f"SP < {target.member_sp_min:g} for members {low}")
    if target.landmarks:
        want = min(pop_size, target.landmarks)
        if scores.landmarks_used != want:
            unmet.append(f"landmarks_used {scores.landmarks_used} != {want}")
    xp_bounded = target.xp_max is not None and pop_size <= target.xp_max_pop_size
    if xp_bounded and not scores.xp_mean <= target.xp_max:
        unmet.append(f"XP {scores.xp_mean:.3g} > {target.xp_max:g}")
    return unmet


def scores_from_crossplay(result: Any) -> TargetScores:
    """:class:`TargetScores` of a :class:`~xpm_bench.evaluation.crossplay.CrossPlayResult`."""
    from xpm_bench.evaluation import metrics as mx

    matrix = result.matrix()
    landmarks = None
    if "rendezvous" in result.event_names:
        indices = mx.mppmr_event_indices(result.event_names)
        landmarks = mx.landmarks_used(result.events, indices["landmarks"], indices["rendezvous"])
    return TargetScores(
        member_sp=tuple(float(v) for v in np.diag(matrix)),
        xp_mean=float(mx.xp_mean(result.returns)) if len(matrix) > 1 else float("nan"),
        landmarks_used=landmarks,
    )


def _plain_scores(scores: TargetScores) -> dict[str, Any]:
    """JSON-plain scores: lists, and None for a nan (strict JSON has no nan)."""

    def num(x: float) -> float | None:
        return None if x != x else float(x)

    return {
        "member_sp": [num(v) for v in scores.member_sp],
        "xp_mean": num(scores.xp_mean),
        "landmarks_used": scores.landmarks_used,
    }


# --------------------------------------------------------------------- censoring
@dataclass(frozen=True)
class CostOutcome:
    """A run's cost to target, or its censoring at the cap.

    Attributes:
        met: the target was met at a check at or below the cap.
        censored: not met within the cap; ``cost_env_steps`` is then the cap.
        cost_env_steps: real env steps in the ledger at the first met check, or the cap.
        ledger: the whole ledger at the first met check (None when censored).
        checks: how many checks ran.
        eval_episodes: episodes the checks played (never charged to the ledger).
    """

    met: bool
    censored: bool
    cost_env_steps: int
    ledger: dict[str, Any] | None
    checks: int
    eval_episodes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cost_outcome(
    checks: Sequence[dict[str, Any]], cap_env_steps: int, eval_episodes: int = 0
) -> CostOutcome:
    """The censoring rule: the first check that met the target at ``env_steps <= cap`` gives
    the cost; with none (never met, or met only past the cap) the run is censored at the cap.

    ``checks`` are :meth:`TargetMonitor.check` records in the order they ran.
    """
    if cap_env_steps <= 0:
        raise ConfigError(
            f"the cost cap must be a positive number of env steps, got {cap_env_steps}"
        )
    for record in checks:
        steps = int(record["ledger"]["env_steps"])
        if record["met"] and steps <= cap_env_steps:
            return CostOutcome(True, False, steps, record["ledger"], len(checks), eval_episodes)
    return CostOutcome(False, True, int(cap_env_steps), None, len(checks), eval_episodes)


# ----------------------------------------------------------------------- monitor
_MEMBER_FIELDS = {f.name for f in fields(Member)}
_MEMBER_REQUIRED = {"name", "arch", "arch_kwargs", "state_dict"}


def members_from_state(state: dict[str, Any], device: str = "cpu") -> list[Policy]:
    """Policies of the finished members in a generator's checkpoint state (its ``members``
    list of plain :class:`~xpm_bench.population.Member` fields).

    A generator whose state keeps its members in another form (XPM-WM's actors on a shared
    world model's features, LIPO's joint learners) gives no population here: only its
    finished population is checked (:meth:`TargetMonitor.finish`).
    """
    entries = (state or {}).get("members", [])
    if not isinstance(entries, list) or not all(
        isinstance(m, dict) and _MEMBER_REQUIRED <= set(m) <= _MEMBER_FIELDS for m in entries
    ):
        return []
    members = [Member(**m) for m in entries]
    return [m.policy(device, seed=i) for i, m in enumerate(members)]


@dataclass(frozen=True)
class MonitorConfig:
    """How often and how hard the target is checked.

    Attributes:
        interval_env_steps: check at the first update boundary after every this many real
            env steps (and once more on the finished population).
        episodes: held-out episodes per seat assignment and pair in each check.
        cap_env_steps: the censoring cap in real env steps (None: the target's
            :meth:`Target.cap` for the population size).
    """

    interval_env_steps: int = 50_000
    episodes: int = 16
    cap_env_steps: int | None = None


class TargetMonitor:
    """Harness callback: checks the target at regular points of a generation run.

    The harness calls :meth:`on_boundary` at every update boundary; a check plays the
    finished members' cross-play matrix on held-out episodes (unmetered) and records the
    ledger with the verdict. :meth:`finish` checks the finished population. The records are
    plain data checkpointed with the run (:meth:`state_dict`), so a resumed run keeps them.
    """

    def __init__(
        self,
        env_id: str,
        pop_size: int,
        config: MonitorConfig = MonitorConfig(),
        device: str = "cpu",
        population_fn: Callable[[dict[str, Any], str], list[Policy]] = members_from_state,
        scorer: Callable[[list[Policy]], TargetScores] | None = None,
    ):
        self.target = target_for(env_id)
        self.env_id, self.pop_size, self.config, self.device = env_id, pop_size, config, device
        self.population_fn = population_fn
        self.scorer = scorer if scorer is not None else self._crossplay_scores
        self.checks: list[dict[str, Any]] = []
        self.eval_episodes = 0
        self._next_check = config.interval_env_steps

    # the harness's side
    def on_boundary(self, ledger: Any, state_fn: Callable[[], dict[str, Any]]) -> None:
        """Check when the ledger has passed the next check point."""
        if ledger.env_steps < self._next_check:
            return
        while self._next_check <= ledger.env_steps:
            self._next_check += self.config.interval_env_steps
        self.check(self.population_fn(state_fn(), self.device), ledger.to_dict())

    def finish(self, population: Population) -> None:
        """Check the finished population (unless the last check already scored all of it at
        this ledger; a check that saw fewer members, e.g. of a generator whose state holds
        them in another form, does not count)."""
        ledger = population.ledger
        last = self.checks[-1] if self.checks else None
        if (
            last is not None
            and last["ledger"]["env_steps"] == ledger["env_steps"]
            and len(last["scores"]["member_sp"]) == self.pop_size
        ):
            return
        self.check(population.policies(self.device), ledger)

    def check(self, members: list[Policy], ledger: dict[str, Any]) -> dict[str, Any]:
        """Score the policies ``members`` against the target and record the verdict with
        ``ledger``."""
        if len(members) < self.pop_size:  # cannot meet it: no episodes spent
            scores = TargetScores(tuple(float("nan") for _ in members), float("nan"))
        else:
            scores = self.scorer(members)
        unmet = unmet_conditions(self.target, scores, self.pop_size)
        record = {
            "ledger": dict(ledger),
            "met": not unmet,
            "unmet": unmet,
            "scores": _plain_scores(scores),
        }
        self.checks.append(record)
        return record

    def outcome(self) -> CostOutcome:
        """The run's cost to target under the censoring rule."""
        cap = self.config.cap_env_steps or self.target.cap(self.pop_size)
        return cost_outcome(self.checks, cap, self.eval_episodes)

    def state_dict(self) -> dict[str, Any]:
        return {
            "checks": list(self.checks),
            "eval_episodes": self.eval_episodes,
            "next_check": self._next_check,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.checks = list(state["checks"])
        self.eval_episodes = int(state["eval_episodes"])
        self._next_check = int(state["next_check"])

    def _crossplay_scores(self, members: list[Policy]) -> TargetScores:
        from xpm_bench.evaluation.crossplay import run_crossplay

        episodes = self.config.episodes
        result = run_crossplay(
            self.env_id, members, episodes, _HELD_OUT_PROTOCOL_SEED, device=self.device
        )
        m = len(members)
        self.eval_episodes += (m * m + 2 * m) * episodes
        return scores_from_crossplay(result)
