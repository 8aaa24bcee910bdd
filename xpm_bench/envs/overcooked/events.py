"""Per-player events, the outcome table that produces them, and the reward weight sets.

The first 25 events are ``overcooked_ai_py.mdp.overcooked_mdp.EVENT_TYPES`` in order. Then:

- ``cooking_started``: this player started a soup cooking (1.1.0 rule: an empty-handed
  interact with a pot; 2019 rule: potting the ingredient that filled the pot);
- ``useful_dish_dispenser_pickup``: a useful dish pickup *from a dispenser* (the reference
  shapes only those, not dish pickups from counters);
- ``soup_pickup_from_pot``: a soup picked up from a pot with a dish (shaped; ``soup_pickup``
  also counts pickups from counters);
- ``delivery_<recipe>`` for every recipe (``delivery_onion_onion_onion``, ...): a delivery of
  that soup. With the recipe's order value as weight, the sparse reward is linear in events.

Every interaction outcome of one player is one row of a table (see :func:`outcome_table`):
``row = 2 * (kind * 64 + code) + useful`` where ``code`` is the object involved and ``useful``
the reference's usefulness test for pickups and drops.
"""

from __future__ import annotations

import numpy as np

from xpm_bench.envs.overcooked.layout import (
    DISH,
    MAX_INGREDIENTS,
    NUM_CODES,
    ONION,
    SOUP,
    TOMATO,
    Layout,
    recipe_name,
    soup_code,
)

REFERENCE_EVENTS = (
    "tomato_pickup",
    "useful_tomato_pickup",
    "tomato_drop",
    "useful_tomato_drop",
    "potting_tomato",
    "onion_pickup",
    "useful_onion_pickup",
    "onion_drop",
    "useful_onion_drop",
    "potting_onion",
    "dish_pickup",
    "useful_dish_pickup",
    "dish_drop",
    "useful_dish_drop",
    "soup_pickup",
    "soup_delivery",
    "soup_drop",
    "optimal_onion_potting",
    "optimal_tomato_potting",
    "viable_onion_potting",
    "viable_tomato_potting",
    "catastrophic_onion_potting",
    "catastrophic_tomato_potting",
    "useless_onion_potting",
    "useless_tomato_potting",
)
EXTRA_EVENTS = ("cooking_started", "useful_dish_dispenser_pickup", "soup_pickup_from_pot")

# outcome kinds: which interaction happened
(
    NOTHING,
    COUNTER_DROP,
    COUNTER_PICKUP,
    DISPENSER_PICKUP,
    START_COOKING,
    SOUP_FROM_POT,
    POT_ONION,
    POT_TOMATO,
    DELIVERY,
) = range(9)
NUM_KINDS = 9
ITEM_EVENT_PREFIX = {ONION: "onion", TOMATO: "tomato", DISH: "dish"}
POTTING_OUTCOMES = ("optimal", "viable", "catastrophic", "useless")


def event_names(layout: Layout) -> list[str]:
    """The event vector of a layout: reference events, extras, one delivery per recipe."""
    deliveries = [f"delivery_{recipe_name(r)}" for r in layout.recipes]
    return [*REFERENCE_EVENTS, *EXTRA_EVENTS, *deliveries]


def outcome_row(kind: int, code: int, useful: int) -> int:
    """The table row of one interaction outcome."""
    return 2 * (kind * NUM_CODES + code) + useful


def outcome_table(layout: Layout, classic: bool) -> np.ndarray:
    """``[2 * 9 * 64, E]`` float32: the events of every interaction outcome.

    ``classic`` (the 2019 rule) adds ``cooking_started`` to the potting that fills a pot.
    """
    names = event_names(layout)
    index = {name: i for i, name in enumerate(names)}
    table = np.zeros((2 * NUM_KINDS * NUM_CODES, len(names)), dtype=np.float32)

    def mark(kind: int, code: int, useful: int, *events: str) -> None:
        row = outcome_row(kind, code, useful)
        for event in events:
            table[row, index[event]] = 1.0

    for useful in (0, 1):
        for item, prefix in ITEM_EVENT_PREFIX.items():
            flag = (f"useful_{prefix}_drop",) if useful else ()
            mark(COUNTER_DROP, item, useful, f"{prefix}_drop", *flag)
            flag = (f"useful_{prefix}_pickup",) if useful else ()
            mark(COUNTER_PICKUP, item, useful, f"{prefix}_pickup", *flag)
        # dispensers: the reference logs onion and dish pickups but not tomato pickups
        mark(DISPENSER_PICKUP, ONION, useful, "onion_pickup", *(("useful_onion_pickup",) * useful))
        dish_flags = ("useful_dish_pickup", "useful_dish_dispenser_pickup") if useful else ()
        mark(DISPENSER_PICKUP, DISH, useful, "dish_pickup", *dish_flags)
        for code in range(SOUP, NUM_CODES):
            if layout.recipe_of_code[code] < 0:
                continue
            mark(COUNTER_DROP, code, useful, "soup_drop")
            mark(COUNTER_PICKUP, code, useful, "soup_pickup")
            mark(SOUP_FROM_POT, code, useful, "soup_pickup", "soup_pickup_from_pot")
            mark(START_COOKING, code, useful, "cooking_started")
            recipe = layout.recipes[layout.recipe_of_code[code]]
            mark(DELIVERY, code, useful, "soup_delivery", f"delivery_{recipe_name(recipe)}")
        for n_on, n_tom in [(o, t) for o in range(3) for t in range(3 - o)]:
            n_items = n_on + n_tom
            old_code = soup_code(n_on, n_tom) if n_items else 0
            for ingredient, kind in ((0, POT_ONION), (1, POT_TOMATO)):
                name = ("onion", "tomato")[ingredient]
                flags = layout.potting_outcomes[old_code, ingredient]
                outcome = [f"{o}_{name}_potting" for o, f in zip(POTTING_OUTCOMES, flags) if f]
                fills = classic and n_items + 1 == MAX_INGREDIENTS
                extra = ("cooking_started",) if fills else ()
                mark(kind, old_code, useful, f"potting_{name}", *outcome, *extra)
    return table


def reward_sets(layout: Layout) -> dict[str, list[float]]:
    """Named team weight vectors over :func:`event_names`.

    - ``sparse``: the reference's sparse reward (sum of ``sparse_reward_by_agent``): each
      delivery event weighted by its recipe's order value.
    - ``shaped``: the reference shaping alone (sum of ``shaped_reward_by_agent``): placing an
      ingredient in a pot, a useful dish pickup from a dispenser, a soup pickup from a pot.
    - ``sparse_shaped``: both, the usual start of a shaping-annealing schedule.
    """
    names = event_names(layout)
    index = {name: i for i, name in enumerate(names)}
    sparse = [0.0] * len(names)
    for recipe, value in zip(layout.recipes, layout.delivery_values):
        sparse[index[f"delivery_{recipe_name(recipe)}"]] = float(value)
    shaped = [0.0] * len(names)
    params = layout.shaping
    shaped[index["potting_onion"]] = float(params["PLACEMENT_IN_POT_REW"])
    shaped[index["potting_tomato"]] = float(params["PLACEMENT_IN_POT_REW"])
    shaped[index["useful_dish_dispenser_pickup"]] = float(params["DISH_PICKUP_REWARD"])
    shaped[index["soup_pickup_from_pot"]] = float(params["SOUP_PICKUP_REWARD"])
    both = [a + b for a, b in zip(sparse, shaped)]
    return {"sparse": sparse, "shaped": shaped, "sparse_shaped": both}


# HiPT's training shaping (Loo et al. 2023; see docs/references.md): +3 for each ingredient a
# player places in a pot, as ``(event name, weight)`` pairs for a trainer's event shaping,
# annealed to 0 by the trainer. The sparse reward (+20 per delivered soup) stays as is.
HIPT_SHAPING = (("potting_onion", 3.0), ("potting_tomato", 3.0))
