"""XPM objective helpers: partner weights, running XP estimates, XP seat groups."""

import pytest
import torch

from xpm_bench.generators.xpm_wm.objective import XPEstimates, partner_weights, seat_groups


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
