"""The cross-play runner on populations whose scores are known by construction (MPPMR)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from xpm_bench.agents.base import CellTablePolicy, RandomPolicy
from xpm_bench.agents.scripted import mppmr_convention_agents
from xpm_bench.envs.mppmr import QUIT
from xpm_bench.errors import ConfigError
from xpm_bench.evaluation import metrics as mx
from xpm_bench.evaluation.crossplay import (
    EVAL_SEED_OFFSET,
    population_metrics,
    run_crossplay,
    stay_action,
)
from xpm_bench.registry import make
from xpm_bench.seeding import HOLDOUT_SEED_BASE, check_training_seed

ENV_ID = "MPPMR-v0"


@pytest.fixture(scope="module")
def env():
    return make(ENV_ID)


@pytest.fixture(scope="module")
def conventions(env):
    return mppmr_convention_agents(env)


@pytest.fixture(scope="module")
def convention_result(conventions):
    names = [f"{k}/{p}" for k, p in conventions]
    return run_crossplay(ENV_ID, list(conventions.values()), episodes=3, names=names)


class HandshakeQuitter:
    """Walks lane ``lane`` of arm ``landmark``; quits as soon as the partner stands in another
    lane of the same arm (it recognises a non-self partner by its handshake)."""

    def __init__(self, base: CellTablePolicy, lane_of: np.ndarray, landmark: int, lane: int, n):
        self.base = base
        self.n_cells = len(lane_of)
        arm_lanes = range(landmark * n, (landmark + 1) * n)
        wrong = np.isin(lane_of, [x for x in arm_lanes if x != landmark * n + lane])
        self.wrong_lane = torch.as_tensor(wrong)

    def act(self, obs: torch.Tensor, carry: Any = None):
        action, carry = self.base.act(obs, carry)
        partner = obs[:, self.n_cells : 2 * self.n_cells].argmax(dim=1)
        return torch.where(self.wrong_lane[partner], QUIT, action), carry


class AlwaysQuit:
    def act(self, obs: torch.Tensor, carry: Any = None):
        return torch.full((obs.shape[0],), QUIT, dtype=torch.int64), carry


def test_scripted_conventions_score_the_known_matrix(convention_result, conventions):
    keys = list(conventions)
    expected = np.array([[float(a[0] == b[0]) for b in keys] for a in keys])
    np.testing.assert_array_equal(convention_result.matrix(), expected)
    # every episode, not only the mean
    np.testing.assert_array_equal(
        convention_result.returns, np.repeat(expected[:, :, None], 3, axis=2)
    )
    assert convention_result.returns.shape == (8, 8, 3)
    assert convention_result.events.shape == (8, 8, 3, 2, len(convention_result.event_names))


def test_scripted_conventions_metrics(convention_result):
    out = population_metrics(convention_result, tau=0.5)
    assert out["sp_mean"] == 1.0
    assert out["xp_mean"] == pytest.approx(8 / 56)  # same landmark, other lane: 8 ordered pairs
    assert out["landmarks_used"] == 4
    assert out["self_sabotage_rate"] == 0.0
    assert out["compatibility_classes"] == 4
    assert out["bad_faith_rate"] == 0.0  # an idle partner never meets anyone: alone = 0
    # SP profile per member: 2 lane + 2 landmark + 2 rendezvous events. Other lane of the same
    # arm: TV 1/3; another arm: only rendezvous shared, TV 2/3. 4 of 28 pairs share an arm.
    assert out["event_profile_diversity"] == pytest.approx((4 / 3 + 24 * 2 / 3) / 28)


def test_idle_partner_runs(convention_result):
    assert convention_result.idle_action == 0
    assert convention_result.idle_returns.shape == (8, 2, 3)
    assert (convention_result.idle_returns == 0).all()
    # the member walked its lane to its landmark while the idle partner stayed on the hub
    lane_events = convention_result.idle_events[0, :, :, :, 0]  # member 0 = landmark 0, lane 0
    np.testing.assert_array_equal(lane_events[0, :, 0], 1)  # seat 0 is the member
    np.testing.assert_array_equal(lane_events[0, :, 1], 0)
    np.testing.assert_array_equal(lane_events[1, :, 1], 1)  # seat 1 is the member


def test_quitting_population_has_the_sabotage_rate_it_was_built_with(env, conventions):
    layout = env.layout
    members = [
        HandshakeQuitter(policy, layout.lane_of, k, p, layout.n_lanes)
        for (k, p), policy in conventions.items()
    ]
    members.append(AlwaysQuit())
    result = run_crossplay(ENV_ID, members, episodes=2)
    out = population_metrics(result)
    # 9 members, 72 ordered XP pairs: 8 same-arm handshake pairs quit, and all 16 pairs with
    # the always-quitter.
    assert out["self_sabotage_rate"] == pytest.approx(24 / 72)
    assert out["xp_mean"] == 0.0  # the handshake quit destroys every same-arm rendezvous
    np.testing.assert_array_equal(np.diag(result.matrix()), [1.0] * 8 + [0.0])
    assert out["landmarks_used"] == 4
    expected_quit = np.zeros((9, 9), dtype=bool)
    for a in range(8):
        for b in range(8):
            expected_quit[a, b] = a != b and a // 2 == b // 2
    expected_quit[8, :] = expected_quit[:, 8] = True
    np.testing.assert_array_equal(result.quit.all(axis=2), expected_quit)
    np.testing.assert_array_equal(result.quit.any(axis=2), expected_quit)


def test_bootstrap_intervals_and_chunking_agree(conventions):
    policies = list(conventions.values())[:3]
    whole = run_crossplay(ENV_ID, policies, episodes=2)
    chunked = run_crossplay(ENV_ID, policies, episodes=2, max_pairs_per_batch=4)
    np.testing.assert_array_equal(whole.returns, chunked.returns)
    np.testing.assert_array_equal(whole.events, chunked.events)
    np.testing.assert_array_equal(whole.idle_events, chunked.idle_events)
    out = population_metrics(whole, n_boot=20)
    assert out["sp_mean_ci"] == [1.0, 1.0]  # deterministic agents: no spread


def test_stochastic_members_are_reseeded_from_the_evaluation_seed():
    def population():
        return [RandomPolicy(6, seed=123, exclude=(QUIT,)), RandomPolicy(6, seed=456)]

    a = run_crossplay(ENV_ID, population(), episodes=4, protocol_seed=0)
    b = run_crossplay(ENV_ID, population(), episodes=4, protocol_seed=0)
    c = run_crossplay(ENV_ID, population(), episodes=4, protocol_seed=1)
    np.testing.assert_array_equal(a.events, b.events)
    assert not np.array_equal(a.events, c.events)
    assert a.seed == EVAL_SEED_OFFSET and c.seed == EVAL_SEED_OFFSET + 1
    assert mx.quit_flags(a.events, a.event_names.index("quit")).shape == (2, 2, 4)


def test_seed_ranges_and_errors():
    assert check_training_seed(5) == 5
    with pytest.raises(ConfigError, match="from 1000000000 on for evaluation"):
        check_training_seed(EVAL_SEED_OFFSET)
    with pytest.raises(ConfigError, match="reserved for holdout partners"):
        check_training_seed(HOLDOUT_SEED_BASE)
    assert check_training_seed(HOLDOUT_SEED_BASE, holdout=True) == HOLDOUT_SEED_BASE
    with pytest.raises(ConfigError, match=r"in \[900000000, 1000000000\)"):
        check_training_seed(EVAL_SEED_OFFSET, holdout=True)
    with pytest.raises(ConfigError):
        check_training_seed(-1)
    assert stay_action(["up", "Stay"]) == 1
    with pytest.raises(ConfigError, match="stay"):
        stay_action(["up", "down"])
    with pytest.raises(ConfigError, match="at least one"):
        run_crossplay(ENV_ID, [])
