"""Lock-step parity of the Overcooked engine (1.1.0 rule) with ``overcooked_ai_py``.

Every step compares the full state (via ``to_reference``), both observations, the sparse and
shaped rewards and all 25 reference events (see ``xpm_bench.envs.overcooked.parity``). Every
check runs both engine backends (torch and numba) against one reference run: the reference's
cost dominates, so one run for both keeps the suite's cost.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpm_bench
from xpm_bench.envs import OVERCOOKED_LAYOUTS
from xpm_bench.envs import reference as ref
from xpm_bench.envs.backends import ENGINES
from xpm_bench.envs.overcooked import _ref
from xpm_bench.envs.overcooked.layout import (
    COUNTER,
    DISH_DISPENSER,
    FLOOR,
    ONION_DISPENSER,
    POT,
    TOMATO_DISPENSER,
    layout_names,
    load_layout,
    soup_code,
    unsupported_layouts,
)
from xpm_bench.envs.overcooked.parity import lockstep

CLASSIC_LAYOUTS = list(OVERCOOKED_LAYOUTS.values())
OTHER_LAYOUTS = [name for name in layout_names() if name not in CLASSIC_LAYOUTS]


def engines(layout: str, copies: int) -> list:
    """One env per backend on ``layout``."""
    return [
        xpm_bench.make("Overcooked-v0", num_envs=copies, layout=layout, backend=backend)
        for backend in ENGINES
    ]


def check(layout: str, policy: str, copies: int, steps: int, seed: int = 0) -> None:
    report = lockstep(engines(layout, copies), steps, policy=policy, seed=seed)
    assert report.ok, "\n".join(report.mismatches)
    assert report.steps == steps
    if policy == "scripted":
        assert report.soups_started > 0  # the scripted cooks really cook
    return report


@pytest.mark.parametrize("layout", CLASSIC_LAYOUTS)
def test_classic_layouts_lockstep_random(layout):
    check(layout, "random", copies=8, steps=125)  # 1,000 transitions


@pytest.mark.parametrize("layout", CLASSIC_LAYOUTS)
def test_classic_layouts_lockstep_scripted_cooks_deliver(layout):
    report = check(layout, "scripted", copies=4, steps=250, seed=3)  # 1,000 transitions
    assert report.deliveries > 0


@pytest.mark.parametrize("layout", OTHER_LAYOUTS)
def test_every_shipped_layout_lockstep(layout):
    check(layout, "scripted", copies=2, steps=80, seed=1)
    check(layout, "random", copies=2, steps=40, seed=2)


@pytest.mark.slow
@pytest.mark.parametrize("layout", layout_names())
@pytest.mark.parametrize("policy", ["random", "scripted"])
def test_every_layout_lockstep_exhaustive(layout, policy):
    check(layout, policy, copies=16, steps=1000, seed=7)  # 16,000 transitions, crosses horizons


def test_unsupported_layouts_are_listed_with_reasons():
    assert set(unsupported_layouts()) == {"cramped_room_single", "multiplayer_schelling"}
    shipped = set(_ref.shipped_layout_names())
    assert set(layout_names()) | set(unsupported_layouts()) == shipped
    with pytest.raises(xpm_bench.errors.EnvArgumentError, match="two-player"):
        xpm_bench.make("Overcooked-v0", layout="multiplayer_schelling")


# ------------------------------------------------------------ random reachable start states
@st.composite
def kitchen_states(draw, layout_name: str):
    """A random state the 1.1.0 dynamics can reach: players on distinct floor cells holding
    what the layout's dispensers make (or a finished soup), items on counters, and pots that
    are empty, filling, cooking (tick >= 1) or ready."""
    module = _ref.mdp_module()
    layout = load_layout(layout_name)

    def cells(kind):
        return [layout.xy(c) for c in range(layout.num_cells) if layout.terrain[c] == kind]  # noqa: E731

    ingredients = [
        name
        for name, kind in (("onion", ONION_DISPENSER), ("tomato", TOMATO_DISPENSER))
        if cells(kind)
    ]
    items = ingredients + (["dish"] if cells(DISH_DISPENSER) else [])

    def recipe():
        n = draw(st.integers(1, 3))
        return [draw(st.sampled_from(ingredients)) for _ in range(n)]

    def soup(position, tick=None):
        parts = recipe()
        n_on, n_tom = parts.count("onion"), parts.count("tomato")
        cook = int(layout.cook_time_of_code[soup_code(n_on, n_tom)])
        tick = cook if tick == "ready" else tick
        if tick == "cooking":
            tick = draw(st.integers(1, max(1, cook - 1)))
        return module.SoupState.get_soup(position, n_on, n_tom, cooking_tick=tick)

    def item(position):
        choice = draw(st.sampled_from([*items, "soup"]))
        if choice == "soup":
            return soup(position, "ready")
        return module.ObjectState(choice, position)

    floor = cells(FLOOR)
    positions = draw(st.lists(st.sampled_from(floor), min_size=2, max_size=2, unique=True))
    players = []
    for position in positions:
        held = item(position) if draw(st.booleans()) else None
        orientation = draw(st.sampled_from([(0, -1), (0, 1), (1, 0), (-1, 0)]))
        players.append(module.PlayerState(position, orientation, held))
    objects = {}
    for counter in cells(COUNTER):
        if draw(st.integers(0, 3)) == 0:
            objects[counter] = item(counter)
    for pot in cells(POT):
        status = draw(st.sampled_from(["empty", "idle", "cooking", "ready"]))
        if status != "empty":
            objects[pot] = soup(pot, -1 if status == "idle" else status)
    return module.OvercookedState(
        players,
        objects,
        bonus_orders=list(layout.bonus_orders),
        all_orders=list(layout.all_orders),
        timestep=draw(st.integers(0, 399)),
    )


HYPOTHESIS_LAYOUTS = [*CLASSIC_LAYOUTS, "cramped_room_tomato", "bonus_order_test", "tutorial_3"]


@pytest.mark.parametrize("layout", HYPOTHESIS_LAYOUTS)
def test_random_reachable_start_states(layout):
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(state=kitchen_states(layout), seed=st.integers(0, 2**16))
    def run(state, seed):
        envs = engines(layout, copies=1)
        for env in envs:  # the start state survives the round trip into the engine and back
            env.set_state(ref.from_reference([state], env))
            assert ref.canonical(ref.to_reference(env.get_state())[0]) == ref.canonical(state)
        report = lockstep(envs, 12, policy="random", seed=seed, start_states=[state])
        assert report.ok, "\n".join(report.mismatches)

    run()


def test_lockstep_detects_a_wrong_engine(monkeypatch):
    """The harness fails loudly when the engine deviates (here: a pot that never cooks)."""
    from xpm_bench.envs.overcooked import dynamics

    monkeypatch.setattr(dynamics, "cook", lambda *args, **kwargs: None)
    broken = xpm_bench.make("Overcooked-v0", num_envs=4, layout="cramped_room", backend="torch")
    report = lockstep(broken, 200, policy="scripted", seed=0)
    assert not report.ok and "state" in report.mismatches[0]
    # with several engines, the mismatch names the one that deviates
    fine = xpm_bench.make("Overcooked-v0", num_envs=4, layout="cramped_room", backend="numba")
    report = lockstep([fine, broken], 200, policy="scripted", seed=0)
    assert not report.ok and all(m.startswith("torch engine") for m in report.mismatches)


def test_from_reference_accepts_strings_dicts_and_lists():
    env = xpm_bench.make("Overcooked-CrampedRoom-v0", num_envs=2)
    state = load_layout("cramped_room").start_state
    as_dict = state.to_dict()
    rows = ref.from_reference([state, as_dict], env)
    assert all(torch.equal(v[0], v[1]) for v in rows.values())
    single = ref.from_reference(str(as_dict).replace("(", "[").replace(")", "]"), env)
    assert torch.equal(single["pos"][0], rows["pos"][0])
