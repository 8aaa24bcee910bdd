"""The rules as small pure functions over batched tensors (no loop over copies).

One step, as in ``OvercookedGridworld.get_state_transition`` of overcooked-ai 1.1.0:

1. :func:`pot_summary` of the state before anything happens (the reference logs the
   usefulness of pickups and drops against this snapshot);
2. :func:`interact` for player 0, then for player 1 (player 1 sees player 0's changes);
3. :func:`move` both players (collisions: both stay where they were);
4. :func:`cook`: cooking soups advance one tick (the 2019 rule first starts full pots).

State tensors (``B`` copies, ``C`` cells, see :mod:`.layout` for codes and timers):
``pos [B, 2]`` int64 cell, ``ori [B, 2]`` int64 direction, ``held [B, 2]`` uint8 code,
``held_timer [B, 2]`` int16, ``code [B, C]`` uint8, ``timer [B, C]`` int16.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from xpm_bench.envs.overcooked import events as ev
from xpm_bench.envs.overcooked.layout import (
    COUNTER,
    DISH,
    DISH_DISPENSER,
    MAX_INGREDIENTS,
    NUM_CODES,
    ONION,
    ONION_DISPENSER,
    POT,
    SERVE,
    SOUP,
    STARTED,
    TOMATO,
    TOMATO_DISPENSER,
    Layout,
)

Tensor = torch.Tensor
NUM_ACTIONS = 6
INTERACT = 5


def lookup(table: Tensor, index: Tensor) -> Tensor:
    """``table[index]`` for a 1-D table (``index_select`` is much faster than indexing)."""
    return table.index_select(0, index.reshape(-1)).view(index.shape)


@dataclass(frozen=True)
class Tables:
    """A layout's lookup tables as torch tensors on the env's device."""

    terrain: Tensor  # [C] int64
    move: Tensor  # [C * 6] int64: cell after action, flattened (cell * 6 + action)
    facing: Tensor  # [C * 4] int64: faced cell, flattened (cell * 4 + direction)
    ori_after: Tensor  # [4 * 6] int64: orientation after action
    pot_cells: Tensor  # [P] int64
    dispensed: Tensor  # [7] int64: item a dispenser terrain hands out, 0 elsewhere
    n_items: Tensor  # [64] int64: ingredients in a soup code
    cook_time: Tensor  # [64] int64 (and [64] int16 below for timer writes)
    cook_time16: Tensor
    outcome_events: Tensor  # [rows, E] float32, see events.outcome_table

    @classmethod
    def build(cls, layout: Layout, classic: bool, device: torch.device) -> Tables:
        def t(x, dtype=torch.int64):
            return torch.as_tensor(x, dtype=dtype, device=device)

        ori_after = torch.arange(4).view(4, 1).repeat(1, NUM_ACTIONS)
        ori_after[:, :4] = torch.arange(4)  # a move turns the player even when blocked
        dispensed = torch.zeros(7, dtype=torch.int64)
        dispensed[ONION_DISPENSER], dispensed[TOMATO_DISPENSER] = ONION, TOMATO
        dispensed[DISH_DISPENSER] = DISH
        n_items = torch.tensor([(c & 3) + ((c >> 2) & 3) if c >= SOUP else 0 for c in range(64)])
        return cls(
            terrain=t(layout.terrain),
            move=t(layout.move_table.reshape(-1)),
            facing=t(layout.facing.reshape(-1)),
            ori_after=t(ori_after.reshape(-1)),
            pot_cells=t(layout.pot_cells),
            dispensed=t(dispensed),
            n_items=t(n_items),
            cook_time=t(layout.cook_time_of_code),
            cook_time16=t(layout.cook_time_of_code, torch.int16),
            outcome_events=t(ev.outcome_table(layout, classic), torch.float32),
        )


@dataclass(frozen=True)
class PotSummary:
    """What the reference's ``get_pot_states`` snapshot says, per copy ([B] tensors)."""

    all_full: Tensor  # bool: every pot is full (cooking, ready, or idle with 3 items)
    none_full: Tensor  # bool: no pot is full
    dish_demand: Tensor  # int64: ready + cooking + partially filled pots


def pot_summary(code: Tensor, tables: Tables) -> PotSummary:
    """Summarise the pots of ``code [B, C]`` for the usefulness tests of pickups and drops."""
    pots = code.index_select(1, tables.pot_cells).long()  # [B, P]
    started = pots >= SOUP | STARTED
    n_items = lookup(tables.n_items, pots)
    full = started | (n_items == MAX_INGREDIENTS)
    n_full = full.sum(1)
    demand = ((pots != 0) & (started | (n_items < MAX_INGREDIENTS))).sum(1)
    return PotSummary(n_full == pots.shape[1], n_full == 0, demand)


def move(pos: Tensor, ori: Tensor, actions: Tensor, tables: Tables) -> tuple[Tensor, Tensor]:
    """Both players' moves: ``(pos, ori) [B, 2]`` after ``actions [B, 2]``.

    A move turns the player even when the cell ahead is not floor. If both players would end
    on one cell, or would swap cells, both stay where they were (they still turn).
    """
    target = lookup(tables.move, pos * NUM_ACTIONS + actions)
    new_ori = lookup(tables.ori_after, ori * NUM_ACTIONS + actions)
    same_cell = target[:, 0] == target[:, 1]
    swap = (target[:, 0] == pos[:, 1]) & (target[:, 1] == pos[:, 0])
    blocked = (same_cell | swap).unsqueeze(1)
    return torch.where(blocked, pos, target), new_ori


@dataclass(frozen=True)
class Interaction:
    """The result of one player's interact for every copy ([B] tensors)."""

    target: Tensor  # int64 cell faced
    held: Tensor  # int64 new held code
    held_timer: Tensor  # int64
    cell: Tensor  # int64 new code of the target cell
    cell_timer: Tensor  # int64
    outcome: Tensor  # int64 row of the outcome-events table
    counter_dish_change: Tensor  # int64: +1 dish put on a counter, -1 taken off one


def interact(
    acting: Tensor,
    pos: Tensor,
    ori: Tensor,
    held: Tensor,
    held_timer: Tensor,
    code: Tensor,
    timer: Tensor,
    other_held: Tensor,
    counter_dishes: Tensor,
    pots: PotSummary,
    tables: Tables,
    classic: bool,
) -> Interaction:
    """One player's interact (``acting [B]`` bool) with the cell it faces.

    ``pos, ori, held, held_timer``: this player's ``[B]`` state; ``code, timer``: the grid;
    ``other_held``: the partner's held code now; ``counter_dishes``: dishes on counters now.
    Cases (mutually exclusive), as in ``OvercookedGridworld.resolve_interacts``:

    - counter: put the held object down on an empty counter, or pick one up empty-handed;
    - onion/tomato/dish dispenser: take one, empty-handed;
    - pot, empty-handed: start cooking an idle soup (1.1.0 rule only);
    - pot, holding a dish: take a ready soup;
    - pot, holding an ingredient: add it unless the pot is full or cooking;
    - serving counter, holding a soup: deliver it.
    """
    target = lookup(tables.facing, pos * 4 + ori)
    terrain = lookup(tables.terrain, target)
    obj = code.gather(1, target.unsqueeze(1)).squeeze(1).long()
    obj_timer = timer.gather(1, target.unsqueeze(1)).squeeze(1).long()
    empty_hand = held == 0
    obj_started = obj >= SOUP | STARTED
    obj_idle_soup = (obj >= SOUP) & ~obj_started
    n_items = lookup(tables.n_items, obj)
    at_counter = acting & (terrain == COUNTER)
    at_pot = acting & (terrain == POT)
    item = lookup(tables.dispensed, terrain)

    drop = at_counter & ~empty_hand & (obj == 0)
    pickup = at_counter & empty_hand & (obj != 0)
    dispense = acting & empty_hand & (item != 0)
    # the 2019 rule starts pots by themselves; there an empty-handed interact does nothing
    start = at_pot & empty_hand & obj_idle_soup & (not classic)
    take_soup = at_pot & (held == DISH) & obj_started & (obj_timer <= 0)
    ingredient = (held == ONION) | (held == TOMATO)
    room = (obj == 0) | (obj_idle_soup & (n_items < MAX_INGREDIENTS))
    add = at_pot & ingredient & room
    deliver = acting & (terrain == SERVE) & (held >= SOUP)

    hands_emptied = drop | add | deliver
    taken = pickup | take_soup
    new_held = torch.where(hands_emptied, 0, held)
    new_held = torch.where(taken, obj, new_held)
    new_held = torch.where(dispense, item, new_held)
    new_held_timer = torch.where(hands_emptied, 0, held_timer)
    new_held_timer = torch.where(taken, obj_timer, new_held_timer)

    added = torch.where(obj == 0, SOUP, obj) + torch.where(held == ONION, 1, 4)
    cell = torch.where(drop, held, obj)
    cell = torch.where(taken, 0, cell)
    cell = torch.where(start, obj | STARTED, cell)
    cell = torch.where(add, added, cell)
    cell_timer = torch.where(drop, held_timer, obj_timer)
    cell_timer = torch.where(taken | add, 0, cell_timer)
    cell_timer = torch.where(start, lookup(tables.cook_time, obj), cell_timer)

    kind = (
        drop * ev.COUNTER_DROP
        + pickup * ev.COUNTER_PICKUP
        + dispense * ev.DISPENSER_PICKUP
        + start * ev.START_COOKING
        + take_soup * ev.SOUP_FROM_POT
        + add * torch.where(held == ONION, ev.POT_ONION, ev.POT_TOMATO)
        + deliver * ev.DELIVERY
    )
    involved = torch.where(drop | deliver, held, obj)
    involved = torch.where(dispense, item, involved)
    useful = _useful(pickup | dispense, involved, other_held, counter_dishes, pots)
    outcome = 2 * (kind * NUM_CODES + involved) + useful
    dish_change = (drop & (held == DISH)).long() - (pickup & (obj == DISH)).long()
    return Interaction(target, new_held, new_held_timer, cell, cell_timer, outcome, dish_change)


def _useful(
    is_pickup: Tensor, item: Tensor, other_held: Tensor, counter_dishes: Tensor, pots: PotSummary
) -> Tensor:
    """The reference's usefulness tests for picking up / dropping ``item`` (int64 0/1).

    Ingredient pickup: unless all pots are full and the partner holds no dish. Ingredient
    drop: all pots full and the partner holds no dish. Dish pickup: no dish on any counter and
    fewer dishes in hands than pots needing one. Dish drop: no pot full and the partner holds
    no onion. (Only meaningful for onions, tomatoes and dishes; the table ignores the rest.)
    """
    partner_dish = other_held == DISH
    ingredient_drop = pots.all_full & ~partner_dish
    dish_pickup = (counter_dishes == 0) & (partner_dish.long() < pots.dish_demand)
    dish_drop = pots.none_full & (other_held != ONION)
    is_dish = item == DISH
    when_picked = torch.where(is_dish, dish_pickup, ~ingredient_drop)
    when_dropped = torch.where(is_dish, dish_drop, ingredient_drop)
    return torch.where(is_pickup, when_picked, when_dropped).long()


def cook(code: Tensor, timer: Tensor, tables: Tables, classic: bool) -> None:
    """Advance the soups in pots by one tick, in place.

    1.1.0 rule: soups that are cooking (started, not ready) tick until ready.
    2019 rule: an idle pot holding three ingredients starts cooking first; then every soup that
    started keeps ticking until it is picked up (its timer goes negative past the cook time).
    """
    cells = tables.pot_cells
    pots = code.index_select(1, cells)
    timers = timer.index_select(1, cells)
    if classic:
        full_idle = (pots < SOUP | STARTED) & (
            lookup(tables.n_items, pots.long()) == MAX_INGREDIENTS
        )
        pots = torch.where(full_idle, pots | STARTED, pots)
        timers = torch.where(full_idle, lookup(tables.cook_time16, pots.long()), timers)
        timers = timers - (pots >= SOUP | STARTED).to(timers.dtype)
        code.index_copy_(1, cells, pots)
    else:
        timers = timers - (timers > 0).to(timers.dtype)
    timer.index_copy_(1, cells, timers)
