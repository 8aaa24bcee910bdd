"""Metrics on hand-built arrays with closed-form answers, plus property tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from xpm_bench.evaluation import metrics as mx


def block_returns(blocks: list[int], n: int = 3, sp: float = 1.0, xp_in: float = 1.0) -> np.ndarray:
    """returns[M, M, N]: members in the same block score ``xp_in``, others 0, SP ``sp``."""
    labels = np.repeat(np.arange(len(blocks)), blocks)
    same = labels[:, None] == labels[None, :]
    mat = np.where(same, xp_in, 0.0)
    np.fill_diagonal(mat, sp)
    return np.repeat(mat[:, :, None], n, axis=2)


# ------------------------------------------------------------------ SP / XP / gaps
def test_sp_xp_means_closed_form():
    # SP 2 and 4 on the diagonal; XP 1 and 3 off it.
    mat = np.array([[2.0, 1.0], [3.0, 4.0]])
    returns = np.stack([mat, mat + 1.0, mat - 1.0], axis=2)  # episode means are ``mat``
    assert mx.sp_mean(returns) == pytest.approx(3.0)
    assert mx.xp_mean(returns) == pytest.approx(2.0)
    assert mx.sp_xp_gap(returns) == pytest.approx(1.0)
    assert mx.normalised_gap(returns) == pytest.approx(1 - 2 / 3)
    np.testing.assert_allclose(mx.pair_means(returns), mat)


def test_means_accept_torch_and_agree_with_numpy():
    returns = np.random.default_rng(0).normal(size=(4, 4, 5))
    assert mx.sp_mean(torch.tensor(returns)) == pytest.approx(mx.sp_mean(returns))
    assert mx.xp_mean(torch.tensor(returns)) == pytest.approx(mx.xp_mean(returns))


def test_fully_incompatible_population_has_gap_one():
    returns = block_returns([1, 1, 1, 1])
    assert mx.xp_mean(returns) == 0.0
    assert mx.normalised_gap(returns) == 1.0


def test_single_member_xp_is_nan_and_zero_sp_gap_is_nan():
    assert math.isnan(mx.xp_mean(np.ones((1, 1, 4))))
    assert math.isnan(mx.normalised_gap(np.zeros((3, 3, 2))))


def test_xp_mean_rejects_non_square():
    with pytest.raises(ValueError, match=r"\[M, M"):
        mx.xp_mean(np.zeros((2, 3, 4)))


# ------------------------------------------------------------ compatibility classes
@pytest.mark.parametrize(
    ("blocks", "expected"), [([1, 1, 1, 1], 4), ([2, 2, 2, 2], 4), ([3, 1], 2), ([5], 1)]
)
def test_compatibility_classes_count_blocks(blocks, expected):
    result = mx.compatibility_classes(block_returns(blocks), tau=0.5)
    assert result.count == expected
    labels = np.repeat(np.arange(len(blocks)), blocks)
    # Same block <=> same class.
    np.testing.assert_array_equal(
        result.labels[:, None] == result.labels[None, :], labels[:, None] == labels[None, :]
    )


def test_compatibility_threshold_is_inclusive_and_uses_both_seats():
    # SP 1 for both; seat (0, 1) scores 1.0, seat (1, 0) scores 0.0 -> seat-averaged XP 0.5.
    mat = np.array([[1.0, 1.0], [0.0, 1.0]])
    assert mx.compatibility_classes(mat, tau=0.5).count == 1  # 0.5 >= 0.5 * 1
    assert mx.compatibility_classes(mat, tau=0.51).count == 2


def test_compatibility_links_are_transitive_through_chains():
    # 0-1 and 1-2 compatible, 0-2 not: one class by connectivity.
    mat = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    result = mx.compatibility_classes(mat, tau=0.9)
    assert result.count == 1
    assert not result.linked[0, 2]


def test_members_without_self_play_are_not_linked():
    assert mx.compatibility_classes(np.zeros((3, 3)), tau=0.5).count == 3


# -------------------------------------------------------------------- bad faith
def test_bad_faith_rate_closed_form():
    # Three members; alone (idle partner) member 0 scores 2 in either seat, others 0.
    mat = np.array([[5.0, 1.0, 3.0], [2.0, 5.0, 0.0], [0.0, 0.0, 5.0]])
    returns = mat[:, :, None]
    idle = np.zeros((3, 2, 1))
    idle[0] = 2.0
    # Pairs containing member 0: (0,1)=1<2 bad, (0,2)=3 ok, (1,0)=2 not < 2 ok, (2,0)=0<2 bad.
    # Others: (1,2)=0, (2,1)=0 vs alone 0: ok.
    pairs = mx.bad_faith_pairs(returns, idle)
    expected = np.zeros((3, 3), dtype=bool)
    expected[0, 1] = expected[2, 0] = True
    np.testing.assert_array_equal(pairs, expected)
    assert mx.bad_faith_rate(returns, idle) == pytest.approx(2 / 6)
    assert mx.bad_faith_rate(returns, idle, margin=1.5) == pytest.approx(1 / 6)


def test_bad_faith_uses_the_seat_each_member_sits_in():
    returns = np.array([[1.0, 0.0], [0.0, 1.0]])[:, :, None]
    idle = np.zeros((2, 2, 1))
    idle[0, 1] = 1.0  # member 0 scores alone only in seat 1
    # Pair [1, 0] has member 0 in seat 1 -> bad; pair [0, 1] has it in seat 0 -> fine.
    np.testing.assert_array_equal(
        mx.bad_faith_pairs(returns, idle), [[False, False], [True, False]]
    )


# --------------------------------------------------------------- event diversity
def sp_events(profiles: np.ndarray, n: int = 2) -> np.ndarray:
    """events[M, M, N, 2, E] whose SP diagonal has seat-0 counts ``profiles[m]``."""
    m, e = profiles.shape
    events = np.zeros((m, m, n, 2, e))
    for i in range(m):
        events[i, i, :, 0] = profiles[i]
    return events


def test_event_profile_diversity_closed_form():
    same = sp_events(np.array([[1.0, 1.0, 0.0], [2.0, 2.0, 0.0]]))
    assert mx.event_profile_diversity(same) == pytest.approx(0.0)  # same mix, different amounts
    disjoint = sp_events(np.eye(3))
    assert mx.event_profile_diversity(disjoint) == pytest.approx(1.0)
    # TV([1,0], [.5,.5]) = .5, TV([1,0],[0,1]) = 1, TV([.5,.5],[0,1]) = .5 -> mean 2/3
    mixed = sp_events(np.array([[2.0, 0.0], [1.0, 1.0], [0.0, 3.0]]))
    assert mx.event_profile_diversity(mixed) == pytest.approx(2 / 3)


def test_event_profiles_sum_seats_and_ignore_cross_play():
    events = np.zeros((2, 2, 1, 2, 2))
    events[0, 0, 0, 0, 0] = 1.0
    events[0, 0, 0, 1, 0] = 2.0
    events[0, 1, 0, :, 1] = 100.0  # XP must not count
    np.testing.assert_allclose(mx.event_profiles(events)[0], [3.0, 0.0])
    np.testing.assert_allclose(mx.event_profiles(events, event_mask=[False, True])[0], [0.0])


def test_total_variation_zero_vectors():
    assert mx.total_variation(np.zeros(3), np.zeros(3)) == 0.0
    assert mx.total_variation(np.zeros(3), np.ones(3)) == 1.0


# --------------------------------------------------------- MPPMR ground truth
MPPMR_NAMES = ["lane_0_0", "landmark_0", "landmark_1", "landmark_2", "rendezvous", "quit"]


def test_mppmr_event_indices():
    idx = mx.mppmr_event_indices(MPPMR_NAMES)
    assert idx == {"landmarks": [1, 2, 3], "rendezvous": 4, "quit": 5}
    with pytest.raises(ValueError):
        mx.mppmr_event_indices(["a", "b"])


def test_landmarks_used_counts_sp_rendezvous_only():
    m, n = 4, 2
    events = np.zeros((m, m, n, 2, len(MPPMR_NAMES)))
    # members 0 and 1 meet at landmark 2, member 2 at landmark 0; member 3 never meets.
    for member, landmark_event in [(0, 3), (1, 3), (2, 1)]:
        events[member, member, :, :, landmark_event] = 1
        events[member, member, :, :, 4] = 1
    events[3, 3, :, :, 2] = 1  # reached landmark 1 but no rendezvous
    events[0, 1, :, :, 2] = 1  # an XP rendezvous at landmark 1 does not count
    events[0, 1, :, :, 4] = 1
    idx = mx.mppmr_event_indices(MPPMR_NAMES)
    assert mx.landmarks_used(events, idx["landmarks"], idx["rendezvous"]) == 2
    lm = mx.rendezvous_landmarks(events, idx["landmarks"], idx["rendezvous"])
    assert lm[0, 0, 0] == 2 and lm[2, 2, 1] == 0 and lm[3, 3, 0] == -1 and lm[0, 1, 0] == 1


def test_self_sabotage_rate_closed_form():
    quit = np.zeros((3, 3, 4), dtype=bool)
    quit[0, 0] = True  # SP quits do not count
    quit[0, 1, :2] = True  # 2 of 24 XP episodes
    quit[2, 1, 3] = True  # 1 more
    assert mx.self_sabotage_rate(quit) == pytest.approx(3 / 24)
    events = np.zeros((3, 3, 4, 2, len(MPPMR_NAMES)))
    events[..., 1, 5] = quit  # seat 1 quit
    np.testing.assert_array_equal(mx.quit_flags(events, 5), quit)


# -------------------------------------------------------------------- bootstrap
def test_bootstrap_constant_samples_give_a_point_interval():
    ci = mx.bootstrap_ci(np.full(20, 3.0), np.mean, n_boot=50, seed=1)
    assert (ci.estimate, ci.low, ci.high) == (3.0, 3.0, 3.0)


def test_bootstrap_mean_matches_normal_theory():
    # Bernoulli(0.5) with n = 400: standard error 0.025, so the 95% interval is ~ +-0.049.
    samples = np.tile([0.0, 1.0], 200)
    ci = mx.bootstrap_ci(samples, np.mean, n_boot=2000, seed=0, alpha=0.05)
    assert ci.estimate == 0.5
    assert ci.low == pytest.approx(0.5 - 1.96 * 0.025, abs=0.01)
    assert ci.high == pytest.approx(0.5 + 1.96 * 0.025, abs=0.01)


def test_bootstrap_is_seeded_and_resamples_each_cell():
    rng = np.random.default_rng(3)
    returns = rng.normal(size=(3, 3, 10))
    a = mx.bootstrap_ci(returns, mx.xp_mean, n_boot=200, seed=7, axis=2)
    b = mx.bootstrap_ci(returns, mx.xp_mean, n_boot=200, seed=7, axis=2)
    assert a == b
    assert a.low < a.estimate < a.high


def test_bootstrap_takes_several_arrays_with_their_own_axes():
    returns = np.zeros((2, 2, 5))
    idle = np.ones((2, 2, 5))
    ci = mx.bootstrap_ci((returns, idle), mx.bad_faith_rate, n_boot=20, seed=0, axis=2)
    assert (ci.estimate, ci.low, ci.high) == (1.0, 1.0, 1.0)
    events = np.zeros((2, 2, 5, 2, 3))
    events[0, 0, :, 0, 0] = 1.0
    events[1, 1, :, 0, 1] = 1.0
    ci = mx.bootstrap_ci(events, mx.event_profile_diversity, n_boot=20, seed=0, axis=2)
    assert (ci.low, ci.high) == (1.0, 1.0)


def test_bootstrap_rejects_bad_alpha():
    with pytest.raises(ValueError, match="alpha"):
        mx.bootstrap_ci(np.ones(3), np.mean, alpha=1.5)


# ------------------------------------------------------------ property tests
returns_arrays = st.integers(2, 5).flatmap(
    lambda m: arrays(np.float64, (m, m, 3), elements=st.floats(-5, 5, width=32))
)


@settings(max_examples=40, deadline=None)
@given(returns=returns_arrays, data=st.data())
def test_metrics_are_invariant_to_member_order(returns, data):
    m = returns.shape[0]
    perm = np.array(data.draw(st.permutations(range(m))))
    shuffled = returns[perm][:, perm]
    for fn in (mx.sp_mean, mx.xp_mean, mx.sp_xp_gap):
        assert fn(shuffled) == pytest.approx(fn(returns), abs=1e-9)
    assert (
        mx.compatibility_classes(shuffled, 0.5).count
        == mx.compatibility_classes(returns, 0.5).count
    )
    idle = np.zeros((m, 2, 3))
    assert mx.bad_faith_rate(shuffled, idle[perm]) == pytest.approx(
        mx.bad_faith_rate(returns, idle)
    )
    events = np.abs(returns)[:, :, :, None, None].repeat(2, axis=3).repeat(2, axis=4)
    events[..., 1] *= np.arange(m)[:, None, None, None]
    assert mx.event_profile_diversity(events[perm][:, perm]) == pytest.approx(
        mx.event_profile_diversity(events), abs=1e-9
    )


@settings(max_examples=40, deadline=None)
@given(returns=returns_arrays, tau=st.floats(0, 1))
def test_compatibility_classes_bounds_and_monotonic_in_tau(returns, tau):
    m = returns.shape[0]
    loose = mx.compatibility_classes(returns, tau).count
    strict = mx.compatibility_classes(returns, min(1.0, tau + 0.25)).count
    assert 1 <= loose <= strict <= m


@settings(max_examples=40, deadline=None)
@given(quit=st.integers(2, 4).flatmap(lambda m: arrays(np.bool_, (m, m, 3))))
def test_sabotage_rate_is_a_fraction_of_off_diagonal_quits(quit):
    m = quit.shape[0]
    rate = mx.self_sabotage_rate(quit)
    assert 0.0 <= rate <= 1.0
    assert rate * m * (m - 1) * 3 == pytest.approx(quit.sum() - np.trace(quit).sum())
