"""XPM objective helpers: partner weights, running XP estimates, XP seat groups."""

import pytest
import torch

from xpm_bench.errors import ConfigError
from xpm_bench.generators.xpm_wm.config import XPMObjective
from xpm_bench.generators.xpm_wm.objective import (
    XPEstimates,
    XPMObjectiveState,
    partner_weights,
    seat_groups,
    xpm_seating,
)


def test_max_selection_is_the_argmax_one_hot_with_ties_to_the_lowest_index():
    assert partner_weights(torch.tensor([0.1, 0.7, 0.7]), "max").tolist() == [0.0, 1.0, 0.0]


def test_softmax_selection_matches_the_closed_form_and_approaches_max_when_cold():
    xp = torch.tensor([0.0, 0.5, 1.0])
    w = partner_weights(xp, "softmax", temperature=0.5)
    e = torch.exp(xp / 0.5)
    assert torch.allclose(w, e / e.sum())
    cold = partner_weights(xp, "softmax", temperature=1e-3)
    assert torch.allclose(cold, partner_weights(xp, "max"))
    with pytest.raises(ValueError, match="accepted: max, softmax"):
        partner_weights(xp, "mean")


def test_xp_estimates_blend_finished_episodes_and_keep_unseen_partners():
    est = XPEstimates(3, rate=0.5, initial=1.0)
    est.update(torch.tensor([0, 0, 2]), torch.tensor([0.0, 1.0, 0.0]))
    assert est.values.tolist() == [0.5, 1.0, 0.0]  # first sight replaces the prior
    est.update(torch.tensor([0]), torch.tensor([1.0]))
    assert est.values.tolist() == [0.75, 1.0, 0.0]
    copy = XPEstimates(3)
    copy.load_state_dict(est.state_dict())
    assert torch.equal(copy.values, est.values) and torch.equal(copy.seen, est.seen)


def test_seat_groups_cover_every_partner_and_seat_evenly():
    groups = seat_groups(10, 2)
    counts = {g: groups.count(g) for g in set(groups)}
    assert set(counts) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert sorted(counts.values()) == [2, 2, 3, 3]


def test_seating_puts_the_learner_in_both_seats_of_sp_copies_and_one_seat_of_xp_copies():
    seats, xp, groups = xpm_seating(12, 0.5, 2)
    assert xp.tolist() == [False] * 6 + [True] * 6
    assert (seats[:6] == 0).all()
    learner_seat = (seats[6:] == 0).int().argmax(dim=1)
    partner = seats[6:].max(dim=1).values - 1
    assert sorted(zip(partner.tolist(), learner_seat.tolist())) == sorted(
        [(0, 0), (0, 1), (1, 0), (1, 1), (0, 0), (0, 1)]
    )
    assert groups == [(0, 0), (0, 1), (1, 0), (1, 1)]
    with pytest.raises(ConfigError, match="no self-play copy"):
        xpm_seating(4, 0.5, 2)


def test_objective_weights_the_max_partner_once_the_gate_opens():
    config = XPMObjective(lambda_xp=0.5, xp_gate_sp=0.5)
    state = XPMObjectiveState(config, [(0, 0), (0, 1), (1, 0), (1, 1)], 2)
    assert [s.weight for s in state.streams()] == [1.0, 0.0, 0.0, 0.0, 0.0]
    # SP episodes (pair 0-0) at 0.4: the gate stays shut; XP with partner 1 (actor 2) is high
    episodes = {
        "pair": torch.tensor([[0, 0], [0, 2], [1, 0]]),
        "sparse_return": torch.tensor([0.4, 1.0, 0.0]),
    }
    assert state.observe(episodes) == {"sp": pytest.approx(0.4), "xp": 1.0}
    assert not state.gate_open
    episodes["sparse_return"] = torch.tensor([0.8, 1.0, 0.0])
    state.observe(episodes)  # running SP mean 0.6 >= 0.5
    assert state.gate_open
    assert [s.name for s in state.streams()] == ["sp", "xp:1:0", "xp:1:1", "xp:2:0", "xp:2:1"]
    assert [s.weight for s in state.streams()] == [1.0, 0.0, 0.0, -0.25, -0.25]
