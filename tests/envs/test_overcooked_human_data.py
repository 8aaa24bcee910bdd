"""The 2019 rule against the recorded human-human trials shipped with overcooked-ai.

Each layout's recorded states are set as one batch, the recorded joint actions applied in one
step, and the result compared with the recorded next states (players, held items, counters,
pots and their cook ticks) and deliveries, through both engine backends (the recordings are
parsed once). Match rates are printed per layout (``-s``).
"""

from __future__ import annotations

import pytest

from xpm_bench.envs.backends import ENGINES
from xpm_bench.envs.reference import HUMAN_DATA_LAYOUTS, replay_human_data

EXPECTED_TRANSITIONS = {"train": 46729, "test": 44373}


@pytest.mark.parametrize("split", ["train", "test"])
def test_classic_rule_reproduces_every_recorded_transition(split):
    for backend in ENGINES:
        results = replay_human_data(split, "OvercookedClassic-v0", backend=backend)
        for result in results.values():
            print(
                f"{split:5s} {backend:5s} {result.layout:26s} {result.state_matches:6d}/"
                f"{result.transitions:6d} states ({result.state_match_rate:.2%}), "
                f"{result.delivery_matches} deliveries match"
            )
        assert set(results) == set(HUMAN_DATA_LAYOUTS.values())
        assert sum(r.transitions for r in results.values()) == EXPECTED_TRANSITIONS[split]
        for result in results.values():
            assert result.state_matches == result.transitions, (backend, result)
            assert result.delivery_matches == result.transitions, (backend, result)


def test_the_1_1_0_rule_does_not_explain_the_human_data():
    """The replay can fail: under the 1.1.0 rule full pots wait for an interact."""
    for backend in ENGINES:
        results = replay_human_data("train", "Overcooked-v0", ["cramped_room"], backend)
        result = results["cramped_room"]
        assert result.state_matches < result.transitions
