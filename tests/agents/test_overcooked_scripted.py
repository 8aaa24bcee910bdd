"""Scripted Overcooked cooks, played against the reference ``overcooked_ai_py`` MDP.

The reference runs under the classic (2019) rule, emulated on the 1.1.0 MDP: a pot starts
cooking on the step its third onion lands (cook tick 1 after that step), the tick keeps
counting until the soup is taken, and an empty-handed interaction with a pot does nothing
(docs/references.md, section 4). Observations are the reference's lossless encoding, transposed
channels-first, exactly what the cooks are specified to read.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xpm_bench.agents.base import ConstantPolicy
from xpm_bench.agents.overcooked_scripted import (
    DISHES,
    INTERACT,
    ONIONS,
    POT,
    SERVE,
    STAY,
    OvercookedCook,
    overcooked_cooks,
)

overcooked_mdp = pytest.importorskip("overcooked_ai_py.mdp.overcooked_mdp")
from overcooked_ai_py.mdp.actions import Action  # noqa: E402

OvercookedGridworld = overcooked_mdp.OvercookedGridworld
LAYOUTS = [
    "cramped_room",
    "asymmetric_advantages",
    "coordination_ring",
    "forced_coordination",
    "counter_circuit_o_1order",
]
HORIZON = 400


class ClassicRuleMDP(OvercookedGridworld):
    """The 1.1.0 reference MDP with the classic auto-cooking rule."""

    def soup_to_be_cooked_at_location(self, state, pos):
        return False  # empty-handed interaction never starts a pot

    def step_environment_effects(self, state):
        state.timestep += 1
        for obj in state.objects.values():
            if obj.name == "soup":
                if obj.is_idle and len(obj.ingredients) >= 3:
                    obj.begin_cooking()
                if not obj.is_idle:
                    obj._cooking_tick += 1  # keeps counting past the cook time


def classic_mdp(layout: str) -> OvercookedGridworld:
    mdp = OvercookedGridworld.from_layout_name(layout)
    mdp.__class__ = ClassicRuleMDP
    return mdp


def observe(mdp, state) -> list[torch.Tensor]:
    """Each player's ``[1, 26, W, H]`` observation."""
    encoded = mdp.lossless_state_encoding(state)
    return [torch.as_tensor(np.transpose(e, (2, 0, 1))[None], dtype=torch.float32) for e in encoded]


def play(layout: str, policies, steps: int = HORIZON, classic: bool = True) -> tuple[int, list]:
    """Soups delivered by ``policies`` (seat 0, seat 1) in ``steps`` steps; also the states.
    ``classic=False`` plays the unmodified 1.1.0 rule."""
    mdp = classic_mdp(layout) if classic else OvercookedGridworld.from_layout_name(layout)
    state = mdp.get_standard_start_state()
    carries = [None, None]
    delivered, states = 0, []
    for _ in range(steps):
        states.append(state)
        joint = []
        for seat, obs in enumerate(observe(mdp, state)):
            action, carries[seat] = policies[seat].act(obs, carries[seat])
            joint.append(Action.INDEX_TO_ACTION[int(action[0])])
        state, info = mdp.get_state_transition(state, joint)
        delivered += sum(info["event_infos"]["soup_delivery"])
    return delivered, states


def test_reference_follows_the_classic_rule():
    mdp = classic_mdp("cramped_room")
    state = mdp.get_standard_start_state()
    pot = mdp.get_pot_locations()[0]
    soup = overcooked_mdp.SoupState(pot, ingredients=[])
    for _ in range(3):
        soup.add_ingredient_from_str("onion")
    state.add_object(soup)
    state, _ = mdp.get_state_transition(state, [Action.STAY, Action.STAY])
    assert state.get_object(pot)._cooking_tick == 1
    for _ in range(25):
        state, _ = mdp.get_state_transition(state, [Action.STAY, Action.STAY])
    assert state.get_object(pot)._cooking_tick == 26 and state.get_object(pot).is_ready


def test_channel_order_matches_the_reference_encoding():
    mdp = classic_mdp("cramped_room")
    state = mdp.get_standard_start_state()
    state.players[0].set_object(overcooked_mdp.ObjectState("onion", state.players[0].position))
    state.players[1].set_object(overcooked_mdp.ObjectState("dish", state.players[1].position))
    obs = observe(mdp, state)[0][0]
    assert {tuple(p) for p in torch.nonzero(obs[POT]).tolist()} == set(mdp.get_pot_locations())
    assert {tuple(p) for p in torch.nonzero(obs[SERVE]).tolist()} == set(
        mdp.get_serving_locations()
    )
    assert obs[ONIONS][state.players[0].position] == 1
    assert obs[DISHES][state.players[1].position] == 1


def test_action_order_matches_the_reference():
    assert Action.INDEX_TO_ACTION[STAY] == Action.STAY
    assert Action.INDEX_TO_ACTION[INTERACT] == Action.INTERACT


def test_onion_and_plating_cooks_deliver_together_on_cramped_room():
    delivered, _ = play("cramped_room", [OvercookedCook("onion"), OvercookedCook("plate")])
    assert delivered >= 8  # measured 11; one soup takes ~36 steps with this split


# Soups in 200 steps (half an episode, to keep the suite fast), measured: full cook alone
# 4 / 6 / 3 / 2 on cramped_room (seat 0) / asymmetric_advantages (seat 0) / coordination_ring
# (seat 1) / counter_circuit (seat 1); two full cooks 5 / 8 / 4 / 6 / 3 on the five layouts.
# The minimums leave room for harmless changes in tie-breaking.
SHORT = 200


@pytest.mark.parametrize(
    ("layout", "seat", "minimum"),
    [
        ("cramped_room", 0, 3),
        ("asymmetric_advantages", 0, 4),
        ("coordination_ring", 1, 2),
        ("counter_circuit_o_1order", 1, 1),
    ],
)
def test_full_cook_alone_delivers(layout, seat, minimum):
    # The idle partner stays on its start cell; on some layouts and seats that cell is the only
    # way to a dispenser, so those seats are left out.
    policies = [ConstantPolicy(STAY), ConstantPolicy(STAY)]
    policies[seat] = OvercookedCook("full")
    delivered, _ = play(layout, policies, SHORT)
    assert delivered >= minimum


@pytest.mark.parametrize(
    ("layout", "minimum"),
    [
        ("cramped_room", 3),
        ("asymmetric_advantages", 5),
        ("coordination_ring", 2),
        ("forced_coordination", 3),  # only possible by handing items over the counter
        ("counter_circuit_o_1order", 2),
    ],
)
def test_two_full_cooks_deliver_on_every_classic_layout(layout, minimum):
    delivered, _ = play(layout, [OvercookedCook("full"), OvercookedCook("full")], SHORT)
    assert delivered >= minimum


def test_cooks_also_start_pots_under_the_1_1_0_rule():
    # Without the classic rule a full idle pot must be started by an empty-handed interact.
    cooks = [OvercookedCook("onion"), OvercookedCook("plate")]
    delivered, _ = play("cramped_room", cooks, SHORT, classic=False)
    assert delivered >= 3  # measured 5


def test_single_role_cooks_cannot_cross_the_forced_coordination_wall():
    # The pot side only adds onions, the supply side only hands dishes over: no soup.
    cooks = [OvercookedCook("onion"), OvercookedCook("plate")]
    delivered, _ = play("forced_coordination", cooks, SHORT)
    assert delivered == 0


def test_batched_actions_equal_row_by_row_actions():
    mdp = classic_mdp("coordination_ring")
    _, states = play("coordination_ring", [OvercookedCook("full"), OvercookedCook("onion")], 40)
    other = classic_mdp("forced_coordination")  # same 5x5 grid size, another layout
    _, other_states = play("forced_coordination", [OvercookedCook("full")] * 2, 40)
    obs = [observe(mdp, s)[0] for s in states[::3]] + [
        observe(other, s)[1] for s in other_states[::3]
    ]
    batch = torch.cat(obs)
    for role in ("onion", "plate", "full"):
        cook = OvercookedCook(role)
        batched, _ = cook.act(batch)
        single = torch.cat([OvercookedCook(role).act(o)[0] for o in obs])
        torch.testing.assert_close(batched, single)


def test_cook_registry_and_errors():
    assert set(overcooked_cooks()) == {"onion-cook", "plate-cook", "full-cook"}
    with pytest.raises(ValueError, match="role"):
        OvercookedCook("chef")
    with pytest.raises(ValueError, match="26"):
        OvercookedCook().act(torch.zeros(1, 5, 4, 4))
