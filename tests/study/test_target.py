"""The cost-to-target protocol: targets, the check on populations with known scores, the
censoring rule, and the harness callback (checks at intervals, unmetered, resumable)."""

from __future__ import annotations

import math

import pytest

import xpm_bench
from xpm_bench.agents.scripted import mppmr_convention_agents
from xpm_bench.errors import ConfigError
from xpm_bench.generators.harness import Harness
from xpm_bench.generators.target import (
    TARGETS,
    MonitorConfig,
    TargetMonitor,
    TargetScores,
    cost_outcome,
    target_for,
    unmet_conditions,
)

MPPMR = TARGETS["MPPMR-v0"]
CRAMPED = TARGETS["OvercookedClassic-CrampedRoom-v0"]


def test_targets_are_the_issues():
    assert (MPPMR.member_sp_min, MPPMR.landmarks, MPPMR.xp_max, MPPMR.xp_max_pop_size) == (
        0.95, 4, 0.05, 4,
    )  # fmt: skip
    assert (CRAMPED.member_sp_min, CRAMPED.landmarks, CRAMPED.xp_max) == (100.0, 0, None)
    with pytest.raises(ConfigError, match="no cost-to-target target for env 'CMG-v0'"):
        target_for("CMG-v0")


@pytest.mark.parametrize(
    ("scores", "m", "unmet"),
    [
        (TargetScores((1.0, 0.96), 0.0, 2), 2, []),
        (TargetScores((1.0, 0.94), 0.0, 2), 2, ["SP < 0.95 for members [1]"]),
        (TargetScores((1.0, 1.0), 0.0, 1), 2, ["landmarks_used 1 != 2"]),
        (TargetScores((1.0, 1.0), 0.06, 2), 2, ["XP 0.06 > 0.05"]),
        (TargetScores((1.0,) * 4, 0.05, 4), 4, []),
        # M = 8: landmarks capped at 4, and XP no longer bounded (8 members share 4 landmarks)
        (TargetScores((1.0,) * 8, 0.4, 4), 8, []),
        (TargetScores((1.0,) * 8, 0.4, 3), 8, ["landmarks_used 3 != 4"]),
        (TargetScores((1.0,), math.nan, None), 2, ["1 of 2 members finished"]),
        (TargetScores((1.0, math.nan), 0.0, 2), 2, ["SP < 0.95 for members [1]"]),
    ],
)
def test_mppmr_conditions(scores, m, unmet):
    assert unmet_conditions(MPPMR, scores, m) == unmet


def test_crampedroom_conditions():
    assert unmet_conditions(CRAMPED, TargetScores((120.0, 100.0, 140.0), 0.0), 3) == []
    assert unmet_conditions(CRAMPED, TargetScores((120.0, 99.0), 120.0), 2) == [
        "SP < 100 for members [1]"
    ]


# ------------------------------------------------------- real populations, known scores
@pytest.fixture(scope="module")
def conventions():
    return mppmr_convention_agents(xpm_bench.make("MPPMR-v0", num_envs=1))


def _monitor(pop_size, conventions=None, **config):
    """A monitor whose generator state names its members by (landmark, lane): plain data,
    as a checkpointed generator state must be."""
    return TargetMonitor(
        "MPPMR-v0", pop_size, MonitorConfig(**{"episodes": 4, **config}),
        population_fn=lambda state, device: [conventions[tuple(c)] for c in state["cells"]],
    )  # fmt: skip


def test_scripted_conventions_meet_the_target(conventions):
    """Four agents on four landmarks: SP 1 each, XP 0, four landmarks: met."""
    monitor = _monitor(4)
    pop = [conventions[(k, 0)] for k in range(4)]
    record = monitor.check(pop, {"env_steps": 100})
    assert record["met"], record["unmet"]
    assert record["scores"]["member_sp"] == [1.0] * 4
    assert record["scores"]["xp_mean"] == 0.0 and record["scores"]["landmarks_used"] == 4
    assert monitor.eval_episodes == (16 + 8) * 4


def test_two_lanes_of_one_landmark_do_not(conventions):
    """Same landmark by two lanes: SP 1 each but one landmark used, and they meet in XP."""
    monitor = _monitor(2)
    record = monitor.check([conventions[(0, 0)], conventions[(0, 1)]], {"env_steps": 100})
    assert not record["met"]
    assert record["scores"]["landmarks_used"] == 1
    assert "landmarks_used 1 != 2" in record["unmet"]


def test_met_late_through_the_harness(conventions):
    """A fake generator whose population becomes diverse after 30k steps: the checks every
    10k steps find it at the 30k boundary, their episodes are never charged, and a run
    resumed from a checkpoint keeps the checks."""
    same, diverse = [(0, 0), (0, 1)], [(0, 0), (2, 1)]
    monitor = _monitor(2, conventions, interval_env_steps=10_000, cap_env_steps=100_000)
    harness = Harness(monitor=monitor)
    for _ in range(8):  # boundaries every 5k steps
        harness.ledger.count("sp", 5_000)
        cells = same if harness.ledger.env_steps < 30_000 else diverse
        harness.boundary(lambda c=cells: {"cells": c})
    assert harness.ledger.env_steps == 40_000  # checks played episodes, none were counted
    assert [c["ledger"]["env_steps"] for c in monitor.checks] == [10_000, 20_000, 30_000, 40_000]
    assert [c["met"] for c in monitor.checks] == [False, False, True, True]
    outcome = monitor.outcome()
    assert (outcome.met, outcome.censored, outcome.cost_env_steps) == (True, False, 30_000)
    assert outcome.ledger["env_steps_by_kind"]["sp"] == 30_000
    assert outcome.eval_episodes == 4 * (4 + 4) * 4

    again = _monitor(2, conventions, interval_env_steps=10_000, cap_env_steps=100_000)
    again.load_state_dict(monitor.state_dict())
    assert again.outcome() == outcome


def test_boundaries_sparser_than_the_interval_check_once(conventions):
    monitor = _monitor(2, conventions, interval_env_steps=1_000)
    harness = Harness(monitor=monitor)
    harness.ledger.count("sp", 3_500)
    harness.boundary(lambda: {"cells": [(0, 0), (1, 0)]})
    harness.ledger.count("sp", 400)  # 3,900: next check is at 4,000
    harness.boundary(lambda: pytest.fail("checked before the next point"))
    assert len(monitor.checks) == 1


def test_checkpoint_carries_the_monitor(tmp_path, conventions):
    monitor = _monitor(2, conventions, interval_env_steps=1_000)
    harness = Harness(run_dir=tmp_path, monitor=monitor, meta={"m": 1})
    harness.ledger.count("sp", 1_000)
    harness.boundary(lambda: {"cells": [(0, 0), (1, 0)]}, force=True)
    resumed = _monitor(2, conventions, interval_env_steps=1_000)
    Harness(run_dir=tmp_path, monitor=resumed, meta={"m": 1}, resume=True)
    assert resumed.checks == monitor.checks and resumed.checks[0]["met"]


def test_members_in_another_form_give_no_population(conventions):
    """XPM-WM keeps its members as actors on a shared model: not rebuilt mid-run, so the
    check says the population is not finished (the finished population is checked)."""
    from xpm_bench.generators.target import members_from_state

    assert members_from_state({"members": [{"actor": {}, "index": 0}]}) == []
    assert members_from_state({"current": None}) == []
    monitor = TargetMonitor("MPPMR-v0", 2, MonitorConfig(interval_env_steps=10))
    harness = Harness(monitor=monitor)
    harness.ledger.count("sp", 10)
    harness.boundary(lambda: {"members": [{"actor": {}}]})
    assert monitor.checks[0]["unmet"] == ["0 of 2 members finished"]

    class _Pop:  # the finished population, at the ledger of that last (incomplete) check
        ledger = harness.ledger.to_dict()

        def policies(self, device):
            return [conventions[(0, 0)], conventions[(1, 0)]]

    monitor.finish(_Pop())  # LIPO M=4 was censored because this check was skipped
    assert len(monitor.checks) == 2 and monitor.outcome().met


# ------------------------------------------------------------------- censoring rule
def _check(steps, met):
    return {"ledger": {"env_steps": steps}, "met": met}


def test_censoring_rule():
    never = cost_outcome([_check(10, False), _check(20, False)], cap_env_steps=50)
    assert (never.met, never.censored, never.cost_env_steps, never.ledger) == (
        False, True, 50, None,
    )  # fmt: skip
    late = cost_outcome([_check(10, False), _check(30, True), _check(40, True)], 50)
    assert (late.met, late.censored, late.cost_env_steps) == (True, False, 30)
    past_cap = cost_outcome([_check(40, False), _check(60, True)], cap_env_steps=50)
    assert (past_cap.censored, past_cap.cost_env_steps) == (True, 50)
    at_cap = cost_outcome([_check(50, True)], cap_env_steps=50)
    assert (at_cap.met, at_cap.cost_env_steps) == (True, 50)
    assert cost_outcome([], 50).censored
    with pytest.raises(ConfigError, match="cost cap"):
        cost_outcome([], 0)


@pytest.mark.slow  # two smoke self-play runs: about 2 minutes on a loaded 2-core CPU
def test_monitoring_does_not_change_the_run():
    """The checks draw nothing from the generator's randomness and count nothing: a monitored
    run gives the population and ledger of the same run without a monitor."""
    from xpm_bench.generators.run import run_generation
    from xpm_bench.population import population_content_hash

    plain = run_generation("sp", "MPPMR-v0", 2, seed=3, preset="smoke", threads=1)
    monitor = TargetMonitor("MPPMR-v0", 2, MonitorConfig(interval_env_steps=20_000, episodes=4))
    watched = run_generation(
        "sp", "MPPMR-v0", 2, seed=3, preset="smoke", threads=1, monitor=monitor
    )
    assert population_content_hash(watched) == population_content_hash(plain)
    assert watched.ledger["env_steps"] == plain.ledger["env_steps"]
    assert len(monitor.checks) >= 4 and monitor.checks[-1]["scores"]["landmarks_used"] is not None
