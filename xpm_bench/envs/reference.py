"""Adapters between the batched Overcooked engine and the reference ``overcooked_ai_py``.

- :func:`from_reference`: an ``OvercookedState``, a state dict (``OvercookedState.to_dict()``
  or the 2019 human-data format), its string form, or a list of any of these -> an engine state
  batch that ``env.set_state`` accepts (one row per state).
- :func:`to_reference`: an engine state (``env.get_state()``) -> a list of ``OvercookedState``.
- :func:`canonical`: a hashable, order-free summary of a reference state for comparisons (the
  reference's own ``SoupState.__eq__`` compares ingredient lists in insertion order and zips
  lists of different lengths).
- :func:`load_human_data` / :func:`replay_human_data`: the 2019 human-human trials shipped with
  overcooked-ai (``human_data/clean_{train,test}_trials.pickle``) and their replay through the
  engine, one batched step per layout.

Orders are layout constants here (overcooked-ai 1.1.0 never changes them during an episode);
the orders stored in a reference state are not read.
"""

from __future__ import annotations

import ast
import functools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from xpm_bench.envs.overcooked import _ref
from xpm_bench.envs.overcooked.layout import (
    DIRECTIONS,
    DISH,
    ONION,
    SOUP,
    STARTED,
    TOMATO,
    Layout,
    load_layout,
    soup_code,
    soup_counts,
)
from xpm_bench.errors import EnvArgumentError

ITEM_CODES = {"onion": ONION, "tomato": TOMATO, "dish": DISH}
ITEM_NAMES = {code: name for name, code in ITEM_CODES.items()}
DIRECTION_INDEX = {d: i for i, d in enumerate(DIRECTIONS)}

# layout_name in the 2019 data -> the shipped layout with the same terrain
HUMAN_DATA_LAYOUTS = {
    "cramped_room": "cramped_room",
    "asymmetric_advantages": "asymmetric_advantages",
    "coordination_ring": "coordination_ring",
    "random0": "forced_coordination",
    "random3": "counter_circuit_o_1order",
}
HUMAN_POINTS_PER_SOUP = 5
HUMAN_ACTIONS = {(0, -1): 0, (0, 1): 1, (1, 0): 2, (-1, 0): 3, (0, 0): 4, "INTERACT": 5}


# --------------------------------------------------------------------------- from_reference
def from_reference(states: Any, env: Any) -> dict[str, torch.Tensor]:
    """Engine state rows for ``states`` on ``env``'s layout and device.

    ``states``: one state or a list of them; a state is an ``OvercookedState``, a state dict
    (new format, or the 2019 format with soups as ``'state': [ingredient, n, tick]``) or its
    string (JSON or Python literal). The result has every key of ``env.state_keys`` plus ``t``
    (the state's timestep; 0 for 2019 dicts), with one row per state.
    """
    single = not isinstance(states, (list, tuple))
    rows = [_state_arrays(s, env.layout) for s in ([states] if single else states)]
    if not rows:
        raise EnvArgumentError("from_reference needs at least one state")
    dtypes = {
        "pos": torch.int64,
        "ori": torch.int64,
        "held": torch.uint8,
        "held_timer": torch.int16,
        "code": torch.uint8,
        "timer": torch.int16,
        "t": torch.int64,
    }
    return {
        key: torch.as_tensor(np.stack([r[key] for r in rows]), dtype=dtype, device=env.device)
        for key, dtype in dtypes.items()
    }


def _state_arrays(state: Any, layout: Layout) -> dict[str, np.ndarray]:
    if isinstance(state, str):
        state = parse_state_string(state)
    if isinstance(state, dict):
        if _is_legacy_dict(state):
            return _legacy_arrays(state, layout)
        state = _ref.mdp_module().OvercookedState.from_dict(state)
    return _reference_arrays(state, layout)


def _empty_arrays(layout: Layout) -> dict[str, np.ndarray]:
    n = layout.num_cells
    return {
        "pos": np.zeros(2, np.int64),
        "ori": np.zeros(2, np.int64),
        "held": np.zeros(2, np.int64),
        "held_timer": np.zeros(2, np.int64),
        "code": np.zeros(n, np.int64),
        "timer": np.zeros(n, np.int64),
        "t": np.zeros((), np.int64),
    }


def _soup(layout: Layout, n_onions: int, n_tomatoes: int, tick: int) -> tuple[int, int]:
    """(code, timer) of a soup; ``tick < 0`` means idle."""
    if tick < 0:
        return soup_code(n_onions, n_tomatoes), 0
    code = soup_code(n_onions, n_tomatoes, started=True)
    return code, int(layout.cook_time_of_code[code]) - tick


def _object_code(obj: Any, layout: Layout) -> tuple[int, int]:
    if obj.name == "soup":
        ingredients = obj.ingredients
        return _soup(
            layout, ingredients.count("onion"), ingredients.count("tomato"), obj._cooking_tick
        )
    return ITEM_CODES[obj.name], 0


def _reference_arrays(state: Any, layout: Layout) -> dict[str, np.ndarray]:
    out = _empty_arrays(layout)
    _check_two_players(state.players)
    for p, player in enumerate(state.players):
        out["pos"][p] = layout.cell(*player.position)
        out["ori"][p] = DIRECTION_INDEX[tuple(player.orientation)]
        if player.held_object is not None:
            out["held"][p], out["held_timer"][p] = _object_code(player.held_object, layout)
    for (x, y), obj in state.objects.items():
        cell = layout.cell(x, y)
        out["code"][cell], out["timer"][cell] = _object_code(obj, layout)
    out["t"][...] = state.timestep
    return out


def _is_legacy_dict(state: dict) -> bool:
    if "order_list" in state:
        return True
    objects = state.get("objects", [])
    objects = objects.values() if isinstance(objects, dict) else objects
    return any("state" in obj for obj in objects)


def _legacy_object(obj: dict, layout: Layout) -> tuple[int, int]:
    if obj["name"] != "soup":
        return ITEM_CODES[obj["name"]], 0
    ingredient, number, tick = obj["state"]
    n_onions, n_tomatoes = (number, 0) if ingredient == "onion" else (0, number)
    # as in the reference's SoupState.from_dict: tick 0 means not cooking yet
    return _soup(layout, n_onions, n_tomatoes, -1 if tick == 0 else tick)


def _legacy_arrays(state: dict, layout: Layout) -> dict[str, np.ndarray]:
    out = _empty_arrays(layout)
    _check_two_players(state["players"])
    for p, player in enumerate(state["players"]):
        out["pos"][p] = layout.cell(*player["position"])
        out["ori"][p] = DIRECTION_INDEX[tuple(player["orientation"])]
        held = player.get("held_object")
        if held is not None:
            out["held"][p], out["held_timer"][p] = _legacy_object(held, layout)
    objects = state["objects"]
    for obj in objects.values() if isinstance(objects, dict) else objects:
        cell = layout.cell(*obj["position"])
        out["code"][cell], out["timer"][cell] = _legacy_object(obj, layout)
    out["t"][...] = state.get("timestep", 0)
    return out


def _check_two_players(players: Sequence) -> None:
    if len(players) != 2:
        raise EnvArgumentError(f"Overcooked states need 2 players, got {len(players)}")


def parse_state_string(text: str) -> dict:
    """A state dict from its JSON or Python-literal string (the 2019 data uses the latter)."""
    return _parse_literal(text)


def _parse_literal(text: str) -> Any:
    if "'" not in text:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return ast.literal_eval(text)
    try:  # fast path for Python literals whose strings hold no quotes or keywords
        swapped = text.replace("'", '"').replace("None", "null")
        return json.loads(swapped.replace("True", "true").replace("False", "false"))
    except json.JSONDecodeError:
        return ast.literal_eval(text)


# ----------------------------------------------------------------------------- to_reference
def to_reference(env_state: dict[str, Any], env: Any = None) -> list[Any]:
    """Reference ``OvercookedState`` objects, one per row of ``env_state``.

    ``env_state`` is what ``env.get_state()`` returns (it names its layout), or any dict with
    the engine's state keys if ``env`` is given. Soup ingredients are listed onions first.
    """
    if env is not None:
        layout = env.layout
    elif isinstance(env_state.get("layout"), Layout):
        layout = env_state["layout"]
    elif "layout" in env_state:
        layout = load_layout(env_state["layout"])
    else:
        raise EnvArgumentError("to_reference needs env= or a state from env.get_state()")
    arrays = {
        key: torch.as_tensor(env_state[key]).cpu().long().numpy()
        for key in ("pos", "ori", "held", "held_timer", "code", "timer")
    }
    n = arrays["pos"].shape[0]
    t = torch.as_tensor(env_state.get("t", torch.zeros(n))).cpu().long().numpy()
    return [
        _row_to_reference({k: v[i] for k, v in arrays.items()}, int(t[i]), layout) for i in range(n)
    ]


def _object_from_code(code: int, timer: int, position: tuple[int, int], layout: Layout) -> Any:
    module = _ref.mdp_module()
    if code < SOUP:
        return module.ObjectState(ITEM_NAMES[code], position)
    n_onions, n_tomatoes = soup_counts(code)
    ingredients = [module.ObjectState("onion", position) for _ in range(n_onions)]
    ingredients += [module.ObjectState("tomato", position) for _ in range(n_tomatoes)]
    tick = int(layout.cook_time_of_code[code]) - timer if code & STARTED else -1
    return module.SoupState(position, ingredients, tick)


def _row_to_reference(row: dict[str, np.ndarray], t: int, layout: Layout) -> Any:
    module = _ref.mdp_module()
    players = []
    for p in range(2):
        position = layout.xy(row["pos"][p])
        held = int(row["held"][p])
        obj = (
            None
            if held == 0
            else _object_from_code(held, int(row["held_timer"][p]), position, layout)
        )
        players.append(module.PlayerState(position, DIRECTIONS[int(row["ori"][p])], obj))
    objects = {}
    for cell in np.flatnonzero(row["code"]):
        position = layout.xy(cell)
        objects[position] = _object_from_code(
            int(row["code"][cell]), int(row["timer"][cell]), position, layout
        )
    return module.OvercookedState(
        players,
        objects,
        bonus_orders=list(layout.bonus_orders),
        all_orders=list(layout.all_orders),
        timestep=t,
    )


# -------------------------------------------------------------------------------- canonical
def canonical_object(obj: Any) -> tuple | None:
    """``("onion",)``, ``("dish",)``, ... or ``("soup", n_onions, n_tomatoes, tick)``."""
    if obj is None:
        return None
    if obj.name == "soup":
        ingredients = obj.ingredients
        return ("soup", ingredients.count("onion"), ingredients.count("tomato"), obj._cooking_tick)
    return (obj.name,)


def canonical(state: Any) -> tuple:
    """An order-free, hashable summary of a reference state: players (position, orientation,
    held object) and objects by position (see :func:`canonical_object`), and the timestep."""
    players = tuple(
        (tuple(p.position), tuple(p.orientation), canonical_object(p.held_object))
        for p in state.players
    )
    objects = tuple(sorted((tuple(pos), canonical_object(o)) for pos, o in state.objects.items()))
    return players, objects, state.timestep


# ------------------------------------------------------------------------------ human data
def load_human_data(split: str = "train") -> Any:
    """The 2019 human-human trials (``split`` = ``"train"`` or ``"test"``) as a pandas
    DataFrame, with a ``layout_id`` column naming the shipped layout of each row."""
    import pandas as pd

    if split not in ("train", "test"):
        raise EnvArgumentError(f"split must be 'train' or 'test', got {split!r}")
    path = os.path.join(_ref.human_data_dir(), f"clean_{split}_trials.pickle")
    frame = pd.read_pickle(path)
    frame["layout_id"] = frame["layout_name"].map(HUMAN_DATA_LAYOUTS)
    return frame


def human_joint_action(text: Any) -> tuple[int, int]:
    """Action indices of a recorded joint action (``[[dx, dy], 'INTERACT']`` or its string)."""
    joint = _parse_literal(text) if isinstance(text, str) else text
    return tuple(HUMAN_ACTIONS[a if isinstance(a, str) else tuple(a)] for a in joint)


@dataclass(frozen=True)
class ReplayResult:
    """Replay of the recorded transitions of one layout."""

    layout: str
    transitions: int
    state_matches: int  # next state reproduced exactly (players, held items, objects, ticks)
    delivery_matches: int  # deliveries equal to the recorded ones (reward / 5 points)

    @property
    def state_match_rate(self) -> float:
        return self.state_matches / max(self.transitions, 1)


def replay_human_data(
    split: str = "train",
    env_id: str = "OvercookedClassic-v0",
    layouts: Sequence[str] | None = None,
    backend: str = "auto",
) -> dict[str, ReplayResult]:
    """Set every recorded state of each layout as one batch, apply the recorded joint actions
    in one step, and count rows whose next state and deliveries match the recording.

    The parsed recordings are cached (the data of the latest split, each layout's parsed
    states), so replaying them through another env id or ``backend`` does not parse again."""
    from xpm_bench.registry import make

    results = {}
    for layout_id in sorted(_human_frame(split)["layout_id"].unique()):
        if layouts is not None and layout_id not in layouts:
            continue
        states, expected, actions, recorded = _human_transitions(split, layout_id)
        n = len(actions)
        env = make(env_id, num_envs=n, layout=layout_id, backend=backend)
        env.reset()
        env.set_state(states)
        _, _, _, _, info = env.step(actions)
        same = torch.ones(n, dtype=torch.bool)
        for key in env.state_keys:
            value = getattr(env, key).cpu()
            same &= (value == expected[key]).reshape(n, -1).all(1)
        delivered = info["events"][..., env.event_names.index("soup_delivery")].sum(1).cpu()
        results[layout_id] = ReplayResult(
            layout_id, n, int(same.sum()), int((delivered == recorded).sum())
        )
    return results


@functools.lru_cache(maxsize=1)
def _human_frame(split: str) -> Any:
    return load_human_data(split)


@functools.lru_cache(maxsize=len(HUMAN_DATA_LAYOUTS))
def _human_transitions(split: str, layout_id: str) -> tuple[dict, dict, torch.Tensor, torch.Tensor]:
    """One layout's recorded transitions as engine state rows on CPU: ``(states,
    next_states, joint actions, deliveries)``."""
    frame = _human_frame(split)
    rows = frame[frame["layout_id"] == layout_id]
    layout = _LayoutOnly(load_layout(layout_id))
    states = from_reference([parse_state_string(s) for s in rows["state"]], layout)
    expected = from_reference([parse_state_string(s) for s in rows["next_state"]], layout)
    actions = torch.tensor([human_joint_action(a) for a in rows["joint_action"]])
    # the 2019 study scored a delivered soup 5 points (our sparse reward is its recipe value)
    recorded = torch.as_tensor(rows["reward"].to_numpy() / HUMAN_POINTS_PER_SOUP)
    return states, expected, actions, recorded


@dataclass(frozen=True)
class _LayoutOnly:
    """What :func:`from_reference` reads from an env: its layout and device."""

    layout: Layout
    device: torch.device = torch.device("cpu")
