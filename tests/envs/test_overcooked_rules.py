"""Every interaction and collision case on small hand-drawn kitchens.

Each case states the expected outcome explicitly; under the 1.1.0 rule it is also checked
against the reference MDP's transition (state and events).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xpm_bench.envs import reference as ref
from xpm_bench.envs.overcooked import OvercookedClassicEnv, OvercookedEnv, _ref
from xpm_bench.envs.overcooked.events import REFERENCE_EVENTS
from xpm_bench.envs.overcooked.layout import layout_from_grid
from xpm_bench.envs.overcooked.parity import reference_actions

N, S, E, W, STAY, INTERACT = range(6)
NORTH, SOUTH, EAST, WEST = (0, -1), (0, 1), (1, 0), (-1, 0)

# p0 at (1, 1): pot north, dish dispenser west. p1 at (3, 1): onion dispenser north, serving
# east. The floor cell (2, 1) between them has a counter north and a tomato dispenser south.
LINE = ["XPXOX", "D1 2S", "XXTXX"]
# p0 at (1, 1) and p1 at (3, 1) both face the counter (2, 1) between them.
FACING = ["XXPXX", "O1X2S", "X   X", "XDXTX"]


def onion(pos):
    return _ref.mdp_module().ObjectState("onion", pos)


def item(name, pos):
    return _ref.mdp_module().ObjectState(name, pos)


def soup(pos, onions=3, tomatoes=0, tick=-1):
    return _ref.mdp_module().SoupState.get_soup(pos, onions, tomatoes, cooking_tick=tick)


class Kitchen:
    """One env copy on a hand-drawn grid; ``step`` sets a state, applies one joint action."""

    def __init__(self, grid, classic=False):
        self.layout = layout_from_grid(grid, name="unit")
        cls = OvercookedClassicEnv if classic else OvercookedEnv
        self.env = cls(num_envs=1, layout=self.layout)
        self.classic = classic

    def state(self, p0, p1, objects=None):
        module = _ref.mdp_module()
        players = [module.PlayerState(*p) for p in (p0, p1)]
        for p in players:
            if p.held_object is not None:
                p.held_object.position = p.position
        return module.OvercookedState(
            players,
            dict(objects or {}),
            all_orders=list(self.layout.all_orders),
            bonus_orders=list(self.layout.bonus_orders),
        )

    def step(self, state, a0, a1):
        env = self.env
        env.reset()
        env.set_state(ref.from_reference([state], env))
        _, reward, _, _, info = env.step(torch.tensor([[a0, a1]]))
        after = ref.to_reference(env.get_state())[0]
        events = {name: info["events"][0, :, k].tolist() for k, name in enumerate(env.event_names)}
        if not self.classic:  # the reference agrees
            mdp = self.layout.reference_mdp()
            expected, infos = mdp.get_state_transition(
                state, [reference_actions()[a0], reference_actions()[a1]]
            )
            assert ref.canonical(after) == ref.canonical(expected)
            for name in REFERENCE_EVENTS:
                assert events[name] == [float(x) for x in infos["event_infos"][name]], name
            assert reward[0].tolist() == [float(sum(infos["sparse_reward_by_agent"]))] * 2
        return after, events, reward[0].tolist()


def held(state, p):
    obj = state.players[p].held_object
    return None if obj is None else ref.canonical_object(obj)


# -------------------------------------------------------------------------------- movement
def test_moves_onto_floor_and_turns_when_blocked():
    k = Kitchen(LINE)
    after, _, _ = k.step(k.state(((1, 1), NORTH), ((3, 1), SOUTH)), E, N)
    assert after.players[0].position == (2, 1) and after.players[0].orientation == EAST
    assert after.players[1].position == (3, 1) and after.players[1].orientation == NORTH


def test_stay_and_interact_do_not_move_or_turn():
    k = Kitchen(LINE)
    after, _, _ = k.step(k.state(((1, 1), WEST), ((3, 1), SOUTH)), STAY, INTERACT)
    assert after.players[0].pos_and_or == ((1, 1), WEST)
    assert after.players[1].pos_and_or == ((3, 1), SOUTH)


def test_collision_on_the_same_cell_keeps_both_in_place_but_turns_them():
    k = Kitchen(LINE)
    after, _, _ = k.step(k.state(((1, 1), NORTH), ((3, 1), NORTH)), E, W)
    assert after.players[0].pos_and_or == ((1, 1), EAST)
    assert after.players[1].pos_and_or == ((3, 1), WEST)


def test_swapping_cells_is_a_collision():
    k = Kitchen(LINE)
    after, _, _ = k.step(k.state(((1, 1), NORTH), ((2, 1), NORTH)), E, W)
    assert after.player_positions == ((1, 1), (2, 1))


def test_following_into_a_vacated_cell_is_allowed():
    k = Kitchen(LINE)
    after, _, _ = k.step(k.state(((1, 1), NORTH), ((2, 1), NORTH)), E, E)
    assert after.player_positions == ((2, 1), (3, 1))


def test_moving_into_a_standing_player_is_blocked():
    k = Kitchen(LINE)
    after, _, _ = k.step(k.state(((1, 1), NORTH), ((2, 1), NORTH)), E, STAY)
    assert after.player_positions == ((1, 1), (2, 1))
    assert after.players[0].orientation == EAST


# -------------------------------------------------------------------------------- counters
def test_drop_on_an_empty_counter():
    k = Kitchen(LINE)
    before = k.state(((2, 1), NORTH, onion((2, 1))), ((3, 1), SOUTH))
    after, events, _ = k.step(before, INTERACT, STAY)
    assert held(after, 0) is None and after.objects[(2, 0)].name == "onion"
    assert events["onion_drop"] == [1, 0]


def test_drop_on_an_occupied_counter_does_nothing():
    k = Kitchen(LINE)
    before = k.state(
        ((2, 1), NORTH, onion((2, 1))), ((3, 1), SOUTH), {(2, 0): item("dish", (2, 0))}
    )
    after, events, _ = k.step(before, INTERACT, STAY)
    assert held(after, 0) == ("onion",) and after.objects[(2, 0)].name == "dish"
    assert sum(sum(v) for v in events.values()) == 0


def test_pick_up_from_a_counter_and_nothing_from_an_empty_one():
    k = Kitchen(LINE)
    before = k.state(((2, 1), NORTH), ((3, 1), SOUTH), {(2, 0): item("dish", (2, 0))})
    after, events, _ = k.step(before, INTERACT, STAY)
    assert held(after, 0) == ("dish",) and (2, 0) not in after.objects
    assert events["dish_pickup"] == [1, 0]
    after, events, _ = k.step(k.state(((2, 1), NORTH), ((3, 1), SOUTH)), INTERACT, STAY)
    assert held(after, 0) is None and not after.objects


def test_soups_can_be_put_on_counters_and_picked_up():
    k = Kitchen(LINE)
    ready = soup((2, 1), tick=20)
    after, events, _ = k.step(k.state(((2, 1), NORTH, ready), ((3, 1), SOUTH)), INTERACT, STAY)
    assert ref.canonical_object(after.objects[(2, 0)]) == ("soup", 3, 0, 20)
    assert events["soup_drop"] == [1, 0]
    after, events, _ = k.step(after, INTERACT, STAY)
    assert held(after, 0) == ("soup", 3, 0, 20) and events["soup_pickup"] == [1, 0]
    assert events["soup_pickup_from_pot"] == [0, 0]


def test_drop_and_pickup_on_one_counter_in_the_same_step():
    k = Kitchen(FACING)
    before = k.state(((1, 1), EAST, onion((1, 1))), ((3, 1), WEST))
    after, events, _ = k.step(before, INTERACT, INTERACT)
    assert held(after, 0) is None and held(after, 1) == ("onion",)
    assert (2, 1) not in after.objects
    assert events["onion_drop"] == [1, 0] and events["onion_pickup"] == [0, 1]


# ------------------------------------------------------------------------------ dispensers
@pytest.mark.parametrize(
    ("player", "expected", "event"),
    [
        (((1, 1), WEST), "dish", "dish_pickup"),
        (((2, 1), SOUTH), "tomato", None),  # the reference logs no tomato dispenser pickup
        (((3, 1), NORTH), "onion", "onion_pickup"),
    ],
)
def test_dispensers_hand_out_items_to_empty_hands(player, expected, event):
    k = Kitchen(LINE)
    other = ((3, 1), SOUTH) if player[0] != (3, 1) else ((1, 1), SOUTH)
    p0, p1 = (player, other) if player[0] != (3, 1) else (other, player)
    seat = 0 if player[0] != (3, 1) else 1
    actions = [STAY, STAY]
    actions[seat] = INTERACT
    after, events, _ = k.step(k.state(p0, p1), *actions)
    assert held(after, seat) == (expected,)
    if event:
        assert events[event][seat] == 1
    full_hands = (*player, item("dish", player[0]))
    p0, p1 = (full_hands, other) if seat == 0 else (other, full_hands)
    after, _, _ = k.step(k.state(p0, p1), *actions)
    assert held(after, seat) == ("dish",)  # holding something: nothing happens


# ------------------------------------------------------------------------------------ pots
POT = (1, 0)
AT_POT = ((1, 1), NORTH)
AWAY = ((3, 1), SOUTH)


def test_adding_ingredients_to_a_pot():
    k = Kitchen(LINE)
    after, events, _ = k.step(k.state((*AT_POT, onion((1, 1))), AWAY), INTERACT, STAY)
    assert ref.canonical_object(after.objects[POT]) == ("soup", 1, 0, -1)
    assert events["potting_onion"] == [1, 0]
    before = k.state((*AT_POT, item("tomato", (1, 1))), AWAY, {POT: soup(POT, 2)})
    after, events, _ = k.step(before, INTERACT, STAY)
    assert ref.canonical_object(after.objects[POT]) == ("soup", 2, 1, -1)  # idle until started
    assert events["potting_tomato"] == [1, 0]


@pytest.mark.parametrize("tick", [-1, 5, 20])  # full idle, cooking, ready
def test_no_ingredient_goes_into_a_full_or_cooking_pot(tick):
    k = Kitchen(LINE)
    before = k.state((*AT_POT, onion((1, 1))), AWAY, {POT: soup(POT, 3, tick=tick)})
    after, events, _ = k.step(before, INTERACT, STAY)
    assert held(after, 0) == ("onion",)
    assert sum(sum(v) for v in events.values()) == 0


def test_empty_handed_interact_starts_cooking_under_1_1_0():
    k = Kitchen(LINE)
    after, events, _ = k.step(k.state(AT_POT, AWAY, {POT: soup(POT, 2)}), INTERACT, STAY)
    assert ref.canonical_object(after.objects[POT]) == ("soup", 2, 0, 1)
    assert events["cooking_started"] == [1, 0]


def test_cooking_stops_at_the_cook_time_under_1_1_0():
    k = Kitchen(LINE)
    after, _, _ = k.step(k.state(AT_POT, AWAY, {POT: soup(POT, 3, tick=19)}), STAY, STAY)
    assert ref.canonical_object(after.objects[POT])[-1] == 20
    after, _, _ = k.step(after, STAY, STAY)
    assert ref.canonical_object(after.objects[POT])[-1] == 20


def test_a_dish_takes_a_ready_soup_but_not_a_cooking_one():
    k = Kitchen(LINE)
    before = k.state((*AT_POT, item("dish", (1, 1))), AWAY, {POT: soup(POT, 3, tick=20)})
    after, events, _ = k.step(before, INTERACT, STAY)
    assert held(after, 0) == ("soup", 3, 0, 20) and POT not in after.objects
    assert events["soup_pickup"] == [1, 0] and events["soup_pickup_from_pot"] == [1, 0]
    before = k.state((*AT_POT, item("dish", (1, 1))), AWAY, {POT: soup(POT, 3, tick=7)})
    after, _, _ = k.step(before, INTERACT, STAY)
    assert held(after, 0) == ("dish",)


# --------------------------------------------------------------------------------- serving
def test_delivering_a_soup_pays_the_team():
    k = Kitchen(LINE)
    before = k.state(AT_POT, ((3, 1), EAST, soup((3, 1), tick=20)))
    after, events, reward = k.step(before, STAY, INTERACT)
    assert held(after, 1) is None
    assert reward == [20.0, 20.0]
    assert events["soup_delivery"] == [0, 1] and events["delivery_onion_onion_onion"] == [0, 1]


def test_only_soups_can_be_served():
    k = Kitchen(LINE)
    after, events, reward = k.step(k.state(AT_POT, ((3, 1), EAST, onion((3, 1)))), STAY, INTERACT)
    assert held(after, 1) == ("onion",) and reward == [0.0, 0.0]


# ----------------------------------------------------------------------------- 2019 rule
def test_classic_third_ingredient_starts_cooking_by_itself():
    k = Kitchen(LINE, classic=True)
    before = k.state((*AT_POT, onion((1, 1))), AWAY, {POT: soup(POT, 2)})
    after, events, _ = k.step(before, INTERACT, STAY)
    assert ref.canonical_object(after.objects[POT]) == ("soup", 3, 0, 1)
    assert events["cooking_started"] == [1, 0] and events["potting_onion"] == [1, 0]


def test_classic_empty_handed_interact_does_nothing():
    k = Kitchen(LINE, classic=True)
    after, events, _ = k.step(k.state(AT_POT, AWAY, {POT: soup(POT, 2)}), INTERACT, STAY)
    assert ref.canonical_object(after.objects[POT]) == ("soup", 2, 0, -1)
    assert sum(sum(v) for v in events.values()) == 0


def test_classic_tick_counts_past_the_cook_time_until_picked_up():
    k = Kitchen(LINE, classic=True)
    state = k.state((*AT_POT, item("dish", (1, 1))), AWAY, {POT: soup(POT, 3, tick=20)})
    state.objects[POT]._cooking_tick = 20
    after, _, _ = k.step(state, STAY, STAY)
    assert ref.canonical_object(after.objects[POT])[-1] == 21
    after, _, _ = k.step(after, INTERACT, STAY)
    assert held(after, 0) == ("soup", 3, 0, 21)  # the held soup keeps its tick
    obs = k.env._observe()[0, 0].numpy()
    assert obs[21].sum() == 1 and obs[20].sum() == 0  # done, no negative remaining time


# --------------------------------------------------------------------------- observations
def test_observation_channels_first_match_the_reference_encoding():
    k = Kitchen(LINE)
    state = k.state((*AT_POT, onion((1, 1))), ((3, 1), EAST, soup((3, 1), tick=20)))
    state.objects[(2, 0)] = item("dish", (2, 0))
    k.env.reset()
    k.env.set_state(ref.from_reference([state], k.env))
    obs = k.env._observe()[0].numpy()
    mdp = k.layout.reference_mdp()
    for p, expected in enumerate(mdp.lossless_state_encoding(state)):
        assert np.array_equal(obs[p], np.transpose(expected, (2, 0, 1)))


def test_infinite_order_bonus_stays_infinite():
    """tutorial_3's bonus order is worth inf in the reference; our reward table must keep inf
    (not clamp it to the largest float) while events that did not happen still count 0."""
    import xpm_bench

    env = xpm_bench.make("Overcooked-v0", layout="tutorial_3")
    table = env._reward_table
    assert torch.isinf(table).any()
    assert not (table == torch.finfo(table.dtype).max).any()
    assert not torch.isnan(table).any()
    events = torch.zeros(1, 2, env.num_events)
    assert torch.equal(env.rewards_from_events(events), torch.zeros(1, 2))
