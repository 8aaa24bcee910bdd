"""Static per-layout data: terrain, move/facing tables, recipes and their values.

Everything here is computed once per layout (numpy, cached) and turned into small torch
lookup tables by the env. Cells are numbered ``cell = x * height + y`` so that a ``[C]``
vector reshapes straight into the reference encoding's ``[W, H]`` planes.

Object codes (one ``uint8`` per cell and per held item)::

    0 nothing, 1 onion, 2 tomato, 3 dish
    soup: SOUP (16) | n_onions (bits 0-1) | n_tomatoes << 2 (bits 2-3) | STARTED (32) once cooking

Soup timers (``int16``) count the cook time *remaining*: ``timer = cook_time - cooking_tick``
for soups that started cooking, 0 for idle soups and non-soups. A soup is ready when it started
and ``timer <= 0``; the 1.1.0 rule stops at 0, the 2019 rule keeps counting into negatives.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from xpm_bench.envs.overcooked import _ref
from xpm_bench.errors import EnvArgumentError

# terrain ids
FLOOR, COUNTER, POT, ONION_DISPENSER, TOMATO_DISPENSER, DISH_DISPENSER, SERVE = range(7)
TERRAIN_CHARS = {" ": FLOOR, "X": COUNTER, "P": POT, "O": ONION_DISPENSER}
TERRAIN_CHARS.update({"T": TOMATO_DISPENSER, "D": DISH_DISPENSER, "S": SERVE})

# object codes
EMPTY, ONION, TOMATO, DISH = 0, 1, 2, 3
SOUP, STARTED = 16, 32
NUM_CODES = 64
INGREDIENTS = ("onion", "tomato")
ITEM_NAMES = {ONION: "onion", TOMATO: "tomato", DISH: "dish"}

# directions in the order of overcooked_ai_py's Direction.INDEX_TO_DIRECTION
DIRECTIONS = ((0, -1), (0, 1), (1, 0), (-1, 0))  # north, south, east, west
ACTION_NAMES = ("north", "south", "east", "west", "stay", "interact")
STAY, INTERACT = 4, 5
MAX_INGREDIENTS = 3


def soup_code(n_onions: int, n_tomatoes: int, started: bool = False) -> int:
    """The object code of a soup holding the given ingredients."""
    return SOUP | n_onions | (n_tomatoes << 2) | (STARTED if started else 0)


def soup_counts(code: int) -> tuple[int, int]:
    """``(n_onions, n_tomatoes)`` of a soup code."""
    return code & 3, (code >> 2) & 3


def all_recipes() -> list[tuple[int, int]]:
    """Every possible recipe as ``(n_onions, n_tomatoes)``, 1 to 3 ingredients."""
    return [(o, t) for n in range(1, MAX_INGREDIENTS + 1) for t in range(n + 1) for o in [n - t]]


def recipe_name(recipe: tuple[int, int]) -> str:
    """``(2, 1)`` -> ``"onion_onion_tomato"`` (ingredients sorted like the reference)."""
    return "_".join(["onion"] * recipe[0] + ["tomato"] * recipe[1])


def _recipe_key(ingredients: Any) -> tuple[int, int]:
    items = list(ingredients)
    return items.count("onion"), items.count("tomato")


def recipe_base_value(config: dict, recipe: tuple[int, int]) -> float:
    """The value of a recipe before orders and bonuses (``Recipe.value`` in overcooked-ai 1.1.0).

    Precedence: ``delivery_reward``; ``recipe_values`` (paired with ``all_orders``); per
    ingredient ``onion_value``/``tomato_value``; else 20. Falsy settings count as unset, as in
    the reference.
    """
    return _recipe_setting(
        config, recipe, "delivery_reward", "recipe_values", "onion_value", "tomato_value"
    )


def recipe_cook_time(config: dict, recipe: tuple[int, int]) -> int:
    """The cook time of a recipe (``Recipe.time``): ``cook_time``, ``recipe_times``, per
    ingredient times, else 20."""
    return _recipe_setting(config, recipe, "cook_time", "recipe_times", "onion_time", "tomato_time")


def _recipe_setting(
    config: dict, recipe: tuple[int, int], single: str, per_order: str, onion: str, tomato: str
) -> Any:
    """overcooked-ai's precedence for a recipe setting: one value for every recipe, else the
    list paired with ``all_orders``, else per-ingredient amounts, else 20."""
    if config.get(single):
        return config[single]
    if config.get(per_order):
        mapping = {
            _recipe_key(order["ingredients"]): value
            for order, value in zip(config["all_orders"], config[per_order])
        }
        if recipe in mapping:
            return mapping[recipe]
    if config.get(onion) and config.get(tomato):
        return config[onion] * recipe[0] + config[tomato] * recipe[1]
    return 20


@dataclass(frozen=True)
class Layout:
    """One kitchen: terrain, tables and recipes. Arrays are numpy; cells are ``x * H + y``."""

    name: str
    width: int
    height: int
    grid: tuple[str, ...]  # terrain rows (players removed), grid[y][x]
    terrain: np.ndarray  # [C] terrain id
    move_table: np.ndarray  # [C, 6] cell after each action (moves only onto floor)
    facing: np.ndarray  # [C, 4] the cell faced in each direction (self if off the grid)
    pot_cells: np.ndarray  # [P]
    recipes: tuple[tuple[int, int], ...]  # every recipe, (n_onions, n_tomatoes)
    recipe_of_code: np.ndarray  # [64] recipe index of a soup code, -1 otherwise
    cook_time_of_code: np.ndarray  # [64] cook time of a soup code, 0 otherwise
    delivery_values: np.ndarray  # [R] reward for delivering each recipe (orders, bonus)
    potting_outcomes: (
        np.ndarray
    )  # [64 old code, 2 ingredient, 4] optimal/viable/catastrophic/useless
    all_orders: tuple[dict, ...]  # as in the standard start state
    bonus_orders: tuple[dict, ...]
    shaping: dict  # reference reward shaping parameters
    start_state: Any  # the reference OvercookedState of get_standard_start_state()
    source: tuple  # ("shipped", name) or ("grid", rows, params): how to rebuild the reference

    def reference_mdp(self) -> Any:
        """A fresh reference ``OvercookedGridworld`` of this layout (note: building one sets
        the reference's global ``Recipe`` configuration to this layout's)."""
        grid_world = _ref.mdp_module().OvercookedGridworld
        if self.source[0] == "shipped":
            return grid_world.from_layout_name(self.source[1])
        _, rows, params = self.source
        return grid_world.from_grid(list(rows), {"layout_name": self.name, **params})

    @property
    def num_cells(self) -> int:
        return self.width * self.height

    def cell(self, x: int, y: int) -> int:
        return x * self.height + y

    def xy(self, cell: int) -> tuple[int, int]:
        return divmod(int(cell), self.height)

    @property
    def max_cook_time(self) -> int:
        return int(self.cook_time_of_code.max())


def layout_names() -> list[str]:
    """Shipped layouts usable here: every ``overcooked_ai_py`` layout with two players."""
    return [name for name in _ref.shipped_layout_names() if name not in unsupported_layouts()]


@cache
def unsupported_layouts() -> dict[str, str]:
    """Shipped layouts this two-player engine cannot run, with the reason."""
    reasons = {}
    for name in _ref.shipped_layout_names():
        grid = _read_layout_dict(name)["grid"]
        players = sum(ch.isdigit() for ch in grid)
        if players != 2:
            reasons[name] = f"{players} player(s); the engine is two-player"
    return reasons


def _read_layout_dict(name: str) -> dict:
    _ref.mdp_module()  # quiet import of the package first
    from overcooked_ai_py.utils import read_layout_dict

    return read_layout_dict(name)


@cache
def load_layout(name: str) -> Layout:
    """Build the :class:`Layout` of a layout shipped with ``overcooked_ai_py`` (cached)."""
    shipped = _ref.shipped_layout_names()
    if name not in shipped:
        raise EnvArgumentError(
            f"unknown Overcooked layout {name!r}; accepted: {', '.join(layout_names())}"
        )
    if name in unsupported_layouts():
        raise EnvArgumentError(f"layout {name!r} is not supported: {unsupported_layouts()[name]}")
    module = _ref.mdp_module()
    with _ref.preserved_recipe_config():
        mdp = module.OvercookedGridworld.from_layout_name(name)
        return _build_layout(name, mdp, ("shipped", name))


def layout_from_grid(rows: list[str] | str, name: str = "custom", **params: Any) -> Layout:
    """A :class:`Layout` from a hand-drawn grid (``X`` counter, ``P`` pot, ``O``/``T``
    onion/tomato dispenser, ``D`` dish dispenser, ``S`` serving, ``1``/``2`` players, space
    floor) and optional reference MDP parameters (``start_all_orders``, ``cook_time``, ...)."""
    if isinstance(rows, str):
        rows = [row.strip() for row in rows.strip().split("\n")]
    module = _ref.mdp_module()
    with _ref.preserved_recipe_config():
        try:
            mdp = module.OvercookedGridworld.from_grid(list(rows), {"layout_name": name, **params})
        except AssertionError as err:
            raise EnvArgumentError(f"invalid Overcooked grid: {err}") from err
        if mdp.num_players != 2:
            raise EnvArgumentError(f"grid has {mdp.num_players} players; the engine is two-player")
        return _build_layout(name, mdp, ("grid", tuple(rows), dict(params)))


def _build_layout(name: str, mdp: Any, source: tuple) -> Layout:
    """Read terrain, recipes and orders off a freshly built reference MDP (call this while the
    global ``Recipe`` configuration is the MDP's own)."""
    module = _ref.mdp_module()
    start = mdp.get_standard_start_state().deepcopy()
    config = dict(mdp.recipe_config)
    if module.Recipe.MAX_NUM_INGREDIENTS != MAX_INGREDIENTS:
        raise EnvArgumentError(f"layout {name!r}: only 3-ingredient soups are supported")
    grid = tuple("".join(row) for row in mdp.terrain_mtx)
    width, height = mdp.width, mdp.height
    terrain = np.zeros(width * height, dtype=np.int64)
    for y, row in enumerate(grid):
        for x, ch in enumerate(row):
            terrain[x * height + y] = TERRAIN_CHARS[ch]
    move_table, facing = _motion_tables(terrain, width, height)
    recipes = tuple(all_recipes())
    all_orders = tuple(r.to_dict() for r in start.all_orders)
    bonus_orders = tuple(r.to_dict() for r in start.bonus_orders)
    ordered = {_recipe_key(o["ingredients"]) for o in all_orders}
    bonus = {_recipe_key(o["ingredients"]) for o in bonus_orders}
    values = []
    for recipe in recipes:
        base = recipe_base_value(config, recipe)
        value = 0 if recipe not in ordered else base * (mdp.order_bonus if recipe in bonus else 1)
        values.append(value)
    recipe_of_code = np.full(NUM_CODES, -1, dtype=np.int64)
    cook_time_of_code = np.zeros(NUM_CODES, dtype=np.int64)
    for r, (n_on, n_tom) in enumerate(recipes):
        for started in (False, True):
            code = soup_code(n_on, n_tom, started)
            recipe_of_code[code] = r
            cook_time_of_code[code] = recipe_cook_time(config, (n_on, n_tom))
    return Layout(
        name=name,
        width=width,
        height=height,
        grid=grid,
        terrain=terrain,
        move_table=move_table,
        facing=facing,
        pot_cells=np.flatnonzero(terrain == POT),
        recipes=recipes,
        recipe_of_code=recipe_of_code,
        cook_time_of_code=cook_time_of_code,
        delivery_values=np.array(values, dtype=np.float64),
        potting_outcomes=_potting_outcomes(recipes, values),
        all_orders=all_orders,
        bonus_orders=bonus_orders,
        shaping=dict(mdp.reward_shaping_params),
        start_state=start,
        source=source,
    )


def _motion_tables(terrain: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """``move_table[c, a]``: the cell after action ``a`` (blocked moves stay put);
    ``facing[c, d]``: the neighbour in direction ``d``."""
    n = width * height
    move_table = np.tile(np.arange(n)[:, None], (1, len(ACTION_NAMES)))
    facing = np.tile(np.arange(n)[:, None], (1, len(DIRECTIONS)))
    for c in range(n):
        x, y = divmod(c, height)
        for d, (dx, dy) in enumerate(DIRECTIONS):
            nx, ny = x + dx, y + dy
            if 0 <= nx < width and 0 <= ny < height:
                neighbour = nx * height + ny
                facing[c, d] = neighbour
                if terrain[neighbour] == FLOOR:
                    move_table[c, d] = neighbour
    return move_table, facing


def _potting_outcomes(recipes: tuple[tuple[int, int], ...], values: list[float]) -> np.ndarray:
    """For adding each ingredient to each idle soup (or an empty pot): the reference's
    optimal / viable / catastrophic / useless potting flags.

    ``best(s)`` is the most any recipe reachable from ingredients ``s`` is worth (0 if none
    is worth anything), as in ``OvercookedGridworld.get_optimal_possible_recipe``.
    """
    value_of = dict(zip(recipes, values))

    def best(n_on: int, n_tom: int) -> float:
        reachable = [v for (o, t), v in value_of.items() if o >= n_on and t >= n_tom and v > 0]
        return max(reachable, default=0)

    table = np.zeros((NUM_CODES, 2, 4), dtype=bool)
    olds = [(0, 0)] + [r for r in recipes if sum(r) < MAX_INGREDIENTS]
    for (n_on, n_tom), ingredient in itertools.product(olds, range(2)):
        old_code = 0 if n_on + n_tom == 0 else soup_code(n_on, n_tom)
        new = (n_on + (ingredient == 0), n_tom + (ingredient == 1))
        old_best, new_best = best(n_on, n_tom), best(*new)
        table[old_code, ingredient] = (
            old_best == new_best,  # optimal
            new_best > 0,  # viable
            old_best > 0 and new_best == 0,  # catastrophic
            old_best == 0,  # useless
        )
    return table
