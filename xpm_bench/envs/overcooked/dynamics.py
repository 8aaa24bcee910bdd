"""The rules as lookup tables over batched tensors (no loop over copies).

One step, as in ``OvercookedGridworld.get_state_transition`` of overcooked-ai 1.1.0:

1. :func:`pot_key` summarises the pots before anything happens (the reference logs the
   usefulness of pickups and drops against this snapshot);
2. :func:`interact` for player 0, then for player 1 (player 1 sees player 0's changes);
3. both players move (:func:`pose_lookups`; collisions: both stay where they were);
4. :func:`cook`: cooking soups advance one tick (the 2019 rule first starts full pots).

Eager torch on CPU pays a fixed cost per op, and comparisons, ``where`` and advanced indexing
are much slower than arithmetic and ``index_select``. So the rules are evaluated once per
layout over every possible input (:func:`interaction_rules`, :func:`usefulness_rules`) and
stored in tables; a step computes a few integer keys and looks the results up.

State tensors (``B`` copies, ``C`` cells, see :mod:`.layout` for codes and timers), all int64
so that no op converts dtypes: ``pos [B, 2]`` cell, ``ori [B, 2]`` direction, ``held [B, 2]``
code, ``held_timer [B, 2]``, ``code [B, C]``, ``timer [B, C]``.
"""

from __future__ import annotations

import functools
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
NUM_TERRAINS = 7
# joint move table (both players' cell and action at once) while it stays this small
MAX_JOINT_MOVE_ROWS = 1 << 18

# columns of the interaction table, see interaction_rules
(
    NEW_HELD,
    NEW_CELL,
    KEEP_HELD_TIMER,
    TAKE_CELL_TIMER,
    KEEP_CELL_TIMER,
    PUT_HELD_TIMER,
    SET_CELL_TIMER,
    OUTCOME,
    USEFUL_TEST,
    DISH_CHANGE,
) = range(10)
NUM_COLUMNS = 10
# usefulness tests (see usefulness_rules)
INGREDIENT_PICKUP, INGREDIENT_DROP, DISH_PICKUP, DISH_DROP = range(4)


def lookup(table: Tensor, index: Tensor) -> Tensor:
    """``table[index]`` for a 1-D table (``index_select`` is much faster than indexing)."""
    return table.index_select(0, index.reshape(-1)).view(index.shape)


def interaction_key(terrain: Tensor, held: Tensor, obj: Tensor, not_ready: Tensor) -> Tensor:
    """The row of the interaction table: ``terrain`` of the faced cell (0, floor, when the
    player does not interact), ``held`` and ``obj`` codes, ``not_ready`` (the cell's timer
    is positive)."""
    return ((terrain * NUM_CODES + held) * NUM_CODES + obj) * 2 + not_ready


def interaction_rules(classic: bool, cook_time: Tensor) -> Tensor:
    """``[7 * 64 * 64 * 2, 10]`` int64: one player's interact for every key of
    :func:`interaction_key` (``cook_time [64]``: cook time of each soup code).

    Cases (mutually exclusive), as in ``OvercookedGridworld.resolve_interacts``:

    - counter: put the held object down on an empty counter, or pick one up empty-handed;
    - onion/tomato/dish dispenser: take one, empty-handed;
    - pot, empty-handed: start cooking an idle soup (1.1.0 rule only);
    - pot, holding a dish: take a ready soup;
    - pot, holding an ingredient: add it unless the pot is full or cooking;
    - serving counter, holding a soup: deliver it.

    Columns: the new held code and cell code; timers as ``held_timer' = KEEP * held_timer +
    TAKE * cell_timer`` and ``cell_timer' = KEEP * cell_timer + PUT * held_timer + SET``; the
    outcome row of :func:`.events.outcome_table` without its usefulness bit; which usefulness
    test decides that bit; the change in dishes lying on counters (+1 put down, -1 taken).
    """
    keys = torch.arange(NUM_TERRAINS * NUM_CODES * NUM_CODES * 2)
    ready = (keys & 1) == 0
    obj = (keys >> 1) % NUM_CODES
    held = (keys >> 1) // NUM_CODES % NUM_CODES
    terrain = (keys >> 1) // (NUM_CODES * NUM_CODES)

    dispensed = torch.zeros(NUM_TERRAINS, dtype=torch.int64)
    dispensed[ONION_DISPENSER], dispensed[TOMATO_DISPENSER] = ONION, TOMATO
    dispensed[DISH_DISPENSER] = DISH
    n_items = torch.tensor([(c & 3) + ((c >> 2) & 3) if c >= SOUP else 0 for c in range(64)])
    empty_hand = held == 0
    obj_started = obj >= SOUP | STARTED
    obj_idle_soup = (obj >= SOUP) & ~obj_started
    obj_items = n_items[obj]
    at_counter = terrain == COUNTER
    at_pot = terrain == POT
    item = dispensed[terrain]

    drop = at_counter & ~empty_hand & (obj == 0)
    pickup = at_counter & empty_hand & (obj != 0)
    dispense = empty_hand & (item != 0)
    # the 2019 rule starts pots by themselves; there an empty-handed interact does nothing
    start = at_pot & empty_hand & obj_idle_soup & (not classic)
    take_soup = at_pot & (held == DISH) & obj_started & ready
    ingredient = (held == ONION) | (held == TOMATO)
    room = (obj == 0) | (obj_idle_soup & (obj_items < MAX_INGREDIENTS))
    add = at_pot & ingredient & room
    deliver = (terrain == SERVE) & (held >= SOUP)

    hands_emptied = drop | add | deliver
    taken = pickup | take_soup
    new_held = torch.where(hands_emptied, 0, held)
    new_held = torch.where(taken, obj, new_held)
    new_held = torch.where(dispense, item, new_held)
    added = torch.where(obj == 0, SOUP, obj) + torch.where(held == ONION, 1, 4)
    cell = torch.where(drop, held, obj)
    cell = torch.where(taken, 0, cell)
    cell = torch.where(start, obj | STARTED, cell)
    cell = torch.where(add, added, cell)

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
    is_pickup, is_dish = pickup | dispense, involved == DISH
    test = torch.where(
        is_pickup,
        torch.where(is_dish, DISH_PICKUP, INGREDIENT_PICKUP),
        torch.where(is_dish, DISH_DROP, INGREDIENT_DROP),
    )
    columns = {
        NEW_HELD: new_held,
        NEW_CELL: cell,
        KEEP_HELD_TIMER: ~(hands_emptied | taken),
        TAKE_CELL_TIMER: taken,
        KEEP_CELL_TIMER: ~(drop | taken | add | start),
        PUT_HELD_TIMER: drop,
        SET_CELL_TIMER: start * cook_time[obj],
        OUTCOME: 2 * (kind * NUM_CODES + involved),
        USEFUL_TEST: test,
        DISH_CHANGE: (drop & (held == DISH)).long() - (pickup & (obj == DISH)).long(),
    }
    return torch.stack([columns[i].long() for i in range(NUM_COLUMNS)], 1)


@functools.cache
def shared_interaction_rules(classic: bool, cook_times: tuple[int, ...]) -> Tensor:
    """:func:`interaction_rules` built once per rule and cook-time table and shared by every
    env (it takes about a second to build; the engines only read it)."""
    return interaction_rules(classic, torch.tensor(cook_times))


def pot_values(num_pots: int) -> Tensor:
    """``[64]`` int64: what one pot holding each code adds to the pot key (see :func:`pot_key`):
    1 if it is full (cooking, ready, or idle with 3 items), plus ``num_pots + 1`` if it needs
    a dish (ready, cooking or partially filled)."""
    code = torch.arange(NUM_CODES)
    n_items = torch.where(code >= SOUP, (code & 3) + ((code >> 2) & 3), 0)
    started = code >= SOUP | STARTED
    full = started | (n_items == MAX_INGREDIENTS)
    demand = (code != 0) & (started | (n_items < MAX_INGREDIENTS))
    return full.long() + (num_pots + 1) * demand.long()


def usefulness_rules(num_pots: int) -> Tensor:
    """``[(P + 1) ** 2 * 2 * 64 * 4]`` int64 0/1: the reference's usefulness tests, keyed by
    ``((pot key * 2 + any dish on counters) * 64 + partner's held code) * 4 + test``.

    Ingredient pickup: unless all pots are full and the partner holds no dish. Ingredient
    drop: all pots full and the partner holds no dish. Dish pickup: no dish on any counter and
    fewer dishes in hands than pots needing one. Dish drop: no pot full and the partner holds
    no onion. (Only meaningful for onions, tomatoes and dishes; the event table ignores the
    rest.)
    """
    base = num_pots + 1
    keys = torch.arange(base * base * 2 * NUM_CODES * 4)
    test = keys % 4
    other_held = keys // 4 % NUM_CODES
    no_counter_dish = keys // (4 * NUM_CODES) % 2 == 0
    pots = keys // (8 * NUM_CODES)
    n_full, demand = pots % base, pots // base
    all_full, none_full = n_full == num_pots, n_full == 0
    partner_dish = other_held == DISH
    ingredient_drop = all_full & ~partner_dish
    dish_pickup = no_counter_dish & (partner_dish.long() < demand)
    dish_drop = none_full & (other_held != ONION)
    useful = torch.stack([~ingredient_drop, ingredient_drop, dish_pickup, dish_drop], 1)
    return useful.gather(1, test.view(-1, 1)).view(-1).long()


@dataclass(frozen=True)
class Tables:
    """A layout's lookup tables as torch tensors on the env's device."""

    target: Tensor  # [C * 6 * 4] int64: cell faced, keyed (cell * 6 + action) * 4 + direction
    interact_base: Tensor  # [C * 24] int64: interaction key offset of the faced terrain
    ori_after: Tensor  # [C * 24] int64: orientation after the action
    move: Tensor  # [C * 6] int64: cell after action (before collisions), cell * 6 + action
    joint_move: Tensor | None  # [(6C) ** 2, 2] int64: both cells after a joint move
    pot_cells: Tensor  # [P] int64
    pot_values: Tensor  # [64] int64, see pot_values (times the usefulness key stride)
    interaction: Tensor  # [7 * 64 * 64 * 2, 10] int64, see interaction_rules
    usefulness: Tensor  # see usefulness_rules
    start_code: Tensor  # [64]: 2019 rule, the code after a full idle pot starts
    timer_keep: Tensor  # [64]: 2019 rule, 0 where a pot starts, else 1
    timer_add: Tensor  # [64]: 2019 rule, cook time where it starts, minus one tick
    outcome_events: Tensor  # [rows, E] float32, see events.outcome_table

    @classmethod
    def build(cls, layout: Layout, classic: bool, device: torch.device) -> Tables:
        def t(x, dtype=torch.int64):
            return torch.as_tensor(x, dtype=dtype, device=device)

        c = layout.num_cells
        # keyed (cell * 6 + action) * 4 + direction: what one player's action does
        cell = torch.arange(c).view(c, 1, 1)
        action = torch.arange(NUM_ACTIONS).view(1, NUM_ACTIONS, 1)
        direction = torch.arange(4).view(1, 1, 4)
        facing = torch.as_tensor(layout.facing)
        target = facing[cell, direction].expand(c, NUM_ACTIONS, 4)
        terrain = torch.as_tensor(layout.terrain)[target]
        interacting = (action == INTERACT).long()
        base = interaction_key(terrain * interacting, torch.tensor(0), torch.tensor(0), 0)
        # a move turns the player even when the cell ahead is not floor
        ori_after = torch.where(action < 4, action, direction).expand(c, NUM_ACTIONS, 4)
        move = torch.as_tensor(layout.move_table)  # [C, 6]
        n_pots = len(layout.pot_cells)
        cook_time = torch.as_tensor(layout.cook_time_of_code)
        codes = torch.arange(NUM_CODES)
        n_items = torch.where(codes >= SOUP, (codes & 3) + ((codes >> 2) & 3), 0)
        full_idle = (codes < SOUP | STARTED) & (n_items == MAX_INGREDIENTS)
        start_code = torch.where(full_idle, codes | STARTED, codes)
        return cls(
            target=t(target.reshape(-1)),
            interact_base=t(base.reshape(-1)),
            ori_after=t(ori_after.reshape(-1)),
            move=t(move.reshape(-1)),
            joint_move=t(_joint_moves(move)) if (6 * c) ** 2 <= MAX_JOINT_MOVE_ROWS else None,
            pot_cells=t(layout.pot_cells),
            pot_values=t(pot_values(n_pots) * (8 * NUM_CODES)),
            interaction=t(shared_interaction_rules(classic, tuple(cook_time.tolist()))),
            usefulness=t(usefulness_rules(n_pots)),
            start_code=t(start_code),
            timer_keep=t(~full_idle),
            timer_add=t(full_idle * cook_time - (start_code >= SOUP | STARTED).long()),
            outcome_events=t(ev.outcome_table(layout, classic), torch.float32),
        )


def _joint_moves(move: Tensor) -> Tensor:
    """``[(6C) ** 2, 2]``: both players' cells after a joint move, keyed ``(cell_0 * 6 +
    action_0) * 6C + cell_1 * 6 + action_1``; collisions resolved as in :func:`resolve_moves`."""
    c = move.shape[0]
    one = torch.arange(c * NUM_ACTIONS)
    pos = torch.stack(torch.meshgrid(one // NUM_ACTIONS, one // NUM_ACTIONS, indexing="ij"), -1)
    target = torch.stack(torch.meshgrid(move.view(-1), move.view(-1), indexing="ij"), -1)
    return resolve_moves(pos.reshape(-1, 2), target.reshape(-1, 2))


def resolve_moves(pos: Tensor, target: Tensor) -> Tensor:
    """``[N, 2]`` cells after both players try to move from ``pos`` to ``target``: if both
    would end on one cell, or would swap cells, both stay where they were."""
    same_cell = target[:, 0] == target[:, 1]
    swap = (target[:, 0] == pos[:, 1]) & (target[:, 1] == pos[:, 0])
    blocked = (same_cell | swap).unsqueeze(1)
    return torch.where(blocked, pos, target)


def pot_key(code: Tensor, tables: Tables) -> Tensor:
    """``[B]`` int64: the pot snapshot part of the usefulness key (number of full pots and
    of pots needing a dish), already multiplied by its stride."""
    pots = code.index_select(1, tables.pot_cells)
    return lookup(tables.pot_values, pots).sum(1)


def interact(
    interact_base: Tensor,
    target: Tensor,
    held: Tensor,
    held_timer: Tensor,
    other_held: Tensor,
    code: Tensor,
    timer: Tensor,
    counter_dishes: Tensor,
    pots: Tensor,
    tables: Tables,
) -> tuple[Tensor, Tensor]:
    """One player's interact with the cell it faces, applied in place to its ``held,
    held_timer [B]`` and the grid ``code, timer [B, C]``.

    ``interact_base [B]``: from :func:`pose_lookups`; ``target [B]``: the faced cell as an
    index into the flattened grid (``copy * C + cell``; 1-D ``index_select``/``index_copy_``
    are several times faster than ``gather``/``scatter_`` along dim 1); ``other_held [B]``:
    the partner's held code now; ``counter_dishes [B]``: dishes on counters now; ``pots [B]``:
    :func:`pot_key` of the state before the step. Returns ``(outcome [B], counter_dishes
    [B])``: the row of the outcome-events table and the dishes on counters afterwards.
    """
    flat_code, flat_timer = code.view(-1), timer.view(-1)
    obj = flat_code.index_select(0, target)
    obj_timer = flat_timer.index_select(0, target)
    key = torch.add(interact_base, held, alpha=2 * NUM_CODES)
    key.add_(obj, alpha=2).add_(obj_timer.clamp(0, 1))  # + 1 unless the cell's timer <= 0
    column = tables.interaction.index_select(0, key).unbind(1)
    new_timer = torch.addcmul(
        column[TAKE_CELL_TIMER] * obj_timer, column[KEEP_HELD_TIMER], held_timer
    )
    cell_timer = torch.addcmul(column[SET_CELL_TIMER], column[KEEP_CELL_TIMER], obj_timer)
    cell_timer.addcmul_(column[PUT_HELD_TIMER], held_timer)
    flat_code.index_copy_(0, target, column[NEW_CELL])
    flat_timer.index_copy_(0, target, cell_timer)
    useful_key = torch.add(pots, column[USEFUL_TEST]).add_(other_held, alpha=4)
    useful_key.add_(counter_dishes.clamp(max=1), alpha=4 * NUM_CODES)
    outcome = lookup(tables.usefulness, useful_key).add_(column[OUTCOME])
    held.copy_(column[NEW_HELD])
    held_timer.copy_(new_timer)
    return outcome, counter_dishes + column[DISH_CHANGE]


def pose_lookups(
    pos: Tensor, ori: Tensor, actions: Tensor, tables: Tables
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Everything the players' poses and actions decide, ``[B, 2]`` each: the cell each player
    faces, the interaction key offset of its terrain (0 unless interacting), the positions and
    orientations after moving."""
    cell_action = torch.add(actions, pos, alpha=NUM_ACTIONS)
    pose = torch.add(ori, cell_action, alpha=4)
    target = lookup(tables.target, pose)
    interact_base = lookup(tables.interact_base, pose)
    new_ori = lookup(tables.ori_after, pose)
    if tables.joint_move is not None:
        stride = tables.move.shape[0]
        joint = torch.add(cell_action[:, 1], cell_action[:, 0], alpha=stride)
        new_pos = tables.joint_move.index_select(0, joint)
    else:
        new_pos = resolve_moves(pos, lookup(tables.move, cell_action))
    return target, interact_base, new_pos, new_ori


def cook(code: Tensor, timer: Tensor, tables: Tables, classic: bool) -> None:
    """Advance the soups in pots by one tick, in place.

    1.1.0 rule: soups that are cooking (started, not ready) tick until ready.
    2019 rule: an idle pot holding three ingredients starts cooking first; then every soup that
    started keeps ticking until it is picked up (its timer goes negative past the cook time).
    """
    cells = tables.pot_cells
    timers = timer.index_select(1, cells)
    if classic:
        pots = code.index_select(1, cells)
        code.index_copy_(1, cells, lookup(tables.start_code, pots))
        # a pot that starts gets its cook time; then every started soup ticks once
        timers = torch.addcmul(
            lookup(tables.timer_add, pots), timers, lookup(tables.timer_keep, pots)
        )
    else:
        timers = timers - timers.clamp(0, 1)  # cooking soups (timer > 0) tick
    timer.index_copy_(1, cells, timers)
