"""The Overcooked engine compiled with numba: one loop over copies, the same lookup tables.

The torch engine (:mod:`.dynamics`, :mod:`.encoding`) evaluates the rules once per layout into
tables and spends each step on a few dozen batched lookups. On CPU each of those ops costs a
fixed overhead, which dominates small batches. These kernels read the very same tables
(:class:`KernelTables` is a numpy view of :class:`.dynamics.Tables`) and apply them copy by
copy in compiled code, so one step costs one call. Integer arithmetic mirrors the torch ops
exactly, including the ``uint8`` / ``int16`` wrap-around of the encoder's casts, so every
output is bit-identical to the torch engine's.

State arrays (int64, as in the torch engine): ``pos, ori, held, held_timer [B, 2]``,
``code, timer [B, C]``, ``t [B]``; ``episode_return [B, 2]`` and ``episode_events [B, 2, E]``
float32. Observations ``[B, 2, 26, W, H]`` uint8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xpm_bench.envs.backends import kernel
from xpm_bench.envs.overcooked import dynamics
from xpm_bench.envs.overcooked.encoding import URGENCY_STEPS, static_planes
from xpm_bench.envs.overcooked.layout import DISH, NUM_CODES

NUM_ACTIONS = dynamics.NUM_ACTIONS
NEW_HELD, NEW_CELL = dynamics.NEW_HELD, dynamics.NEW_CELL
KEEP_HELD_TIMER, TAKE_CELL_TIMER = dynamics.KEEP_HELD_TIMER, dynamics.TAKE_CELL_TIMER
KEEP_CELL_TIMER, PUT_HELD_TIMER = dynamics.KEEP_CELL_TIMER, dynamics.PUT_HELD_TIMER
SET_CELL_TIMER, OUTCOME = dynamics.SET_CELL_TIMER, dynamics.OUTCOME
USEFUL_TEST, DISH_CHANGE = dynamics.USEFUL_TEST, dynamics.DISH_CHANGE
HELD_STRIDE = 2 * NUM_CODES  # interaction key: held code stride (see dynamics.interaction_key)
COUNTER_DISH_STRIDE = 4 * NUM_CODES  # usefulness key: "a dish lies on a counter" stride


@dataclass(frozen=True)
class KernelTables:
    """A layout's lookup tables as numpy arrays, in the layout the kernels read."""

    pose: np.ndarray  # [C * 24, 3] int64: faced cell, interaction key offset, orientation after
    move: np.ndarray  # [C * 6] int64: cell after the action, before collisions
    pot_cells: np.ndarray  # [P] int64
    pot_values: np.ndarray  # [64] int64
    interaction: np.ndarray  # [7 * 64 * 64 * 2, 10] int64
    usefulness: np.ndarray  # int64
    cook: np.ndarray  # [64, 3] int64: 2019 rule start code, timer keep, timer add
    outcome_events: np.ndarray  # [rows, E] float32
    static: np.ndarray  # [6, C] uint8: the terrain channels 10-15

    @classmethod
    def from_tables(cls, tables: dynamics.Tables, layout) -> KernelTables:
        def np_(x):
            return np.ascontiguousarray(x.cpu().numpy())

        return cls(
            pose=np_(dynamics_pose(tables)),
            move=np_(tables.move),
            pot_cells=np_(tables.pot_cells),
            pot_values=np_(tables.pot_values),
            interaction=np_(tables.interaction),
            usefulness=np_(tables.usefulness),
            cook=np.ascontiguousarray(
                np.stack([np_(tables.start_code), np_(tables.timer_keep), np_(tables.timer_add)], 1)
            ),
            outcome_events=np_(tables.outcome_events),
            static=np_(static_planes(layout, tables.move.device)),
        )


def dynamics_pose(tables: dynamics.Tables):
    """``[C * 24, 3]``: the three per-pose lookups of :func:`.dynamics.pose_lookups`."""
    import torch

    return torch.stack([tables.target, tables.interact_base, tables.ori_after], 1)


# ------------------------------------------------------------------------------ kernels
@kernel
def actions_in_range(actions):
    """Whether every action lies in ``[0, 6)`` (checked before anything changes)."""
    for b in range(actions.shape[0]):
        for p in range(2):
            a = actions[b, p]
            if a < 0 or a >= NUM_ACTIONS:
                return False
    return True


@kernel
def step(
    actions,
    pos,
    ori,
    held,
    held_timer,
    code,
    timer,
    t,
    episode_return,
    episode_events,
    pose,
    move,
    pot_cells,
    pot_values,
    interaction,
    usefulness,
    cook,
    outcome_events,
    reward_table,
    static,
    horizon,
    classic,
    obs,
    events,
    reward,
    truncated,
    rows,
):
    """One step of every copy: interacts, moves, cooking, events, rewards, episode sums and
    the observation. Returns the number of copies whose episode ended (-1, and nothing
    changed, if an action is out of range). Auto-reset is :func:`reset_rows`."""
    if not actions_in_range(actions):
        return -1
    n_done = 0
    for b in range(actions.shape[0]):
        _transition(
            b, actions, pos, ori, held, held_timer, code, timer, pose, move, pot_cells,
            pot_values, interaction, usefulness, cook, classic, rows,
        )  # fmt: skip
        r0, r1 = rows[b, 0], rows[b, 1]
        n_events = outcome_events.shape[1]
        for e in range(n_events):
            events[b, 0, e] = outcome_events[r0, e]
            events[b, 1, e] = outcome_events[r1, e]
            episode_events[b, 0, e] += events[b, 0, e]
            episode_events[b, 1, e] += events[b, 1, e]
        for i in range(2):
            reward[b, i] = reward_table[0, r0, i] + reward_table[1, r1, i]
            episode_return[b, i] += reward[b, i]
        t[b] += 1
        truncated[b] = t[b] >= horizon  # Overcooked episodes end only at the horizon
        n_done += truncated[b]
        _encode(b, obs, pos, ori, held, held_timer, code, timer, static, horizon - t[b])
    return n_done


@kernel
def _transition(
    b, actions, pos, ori, held, held_timer, code, timer, pose, move, pot_cells, pot_values,
    interaction, usefulness, cook, classic, rows,
):  # fmt: skip
    """Copy ``b``: pot snapshot, player 0's then player 1's interact, moves, cooking."""
    pots = 0
    for c in pot_cells:
        pots += pot_values[code[b, c]]
    counter_dishes = 0
    for c in range(code.shape[1]):
        counter_dishes += code[b, c] == DISH
    cell_action0 = pos[b, 0] * NUM_ACTIONS + actions[b, 0]
    cell_action1 = pos[b, 1] * NUM_ACTIONS + actions[b, 1]
    pose0 = cell_action0 * 4 + ori[b, 0]
    pose1 = cell_action1 * 4 + ori[b, 1]
    for p in range(2):  # player 0 first: player 1 sees its changes
        k = pose0 if p == 0 else pose1
        target, key_base = pose[k, 0], pose[k, 1]
        obj, obj_timer = code[b, target], timer[b, target]
        key = key_base + held[b, p] * HELD_STRIDE + obj * 2 + (obj_timer > 0)
        rule = interaction[key]
        own_timer = held_timer[b, p]
        code[b, target] = rule[NEW_CELL]
        timer[b, target] = (
            rule[SET_CELL_TIMER]
            + rule[KEEP_CELL_TIMER] * obj_timer
            + rule[PUT_HELD_TIMER] * own_timer
        )
        useful_key = pots + rule[USEFUL_TEST] + held[b, 1 - p] * 4
        useful_key += min(counter_dishes, 1) * COUNTER_DISH_STRIDE
        rows[b, p] = usefulness[useful_key] + rule[OUTCOME]
        held[b, p] = rule[NEW_HELD]
        held_timer[b, p] = rule[TAKE_CELL_TIMER] * obj_timer + rule[KEEP_HELD_TIMER] * own_timer
        counter_dishes += rule[DISH_CHANGE]
    # moves: both players stay if they would end on one cell or swap cells
    target0, target1 = move[cell_action0], move[cell_action1]
    if target0 != target1 and not (target0 == pos[b, 1] and target1 == pos[b, 0]):
        pos[b, 0], pos[b, 1] = target0, target1
    ori[b, 0], ori[b, 1] = pose[pose0, 2], pose[pose1, 2]
    for c in pot_cells:  # cooking soups tick (the 2019 rule first starts full pots)
        if classic:
            pot = code[b, c]
            code[b, c] = cook[pot, 0]
            timer[b, c] = cook[pot, 2] + timer[b, c] * cook[pot, 1]
        else:
            timer[b, c] -= min(max(timer[b, c], 0), 1)


@kernel
def _encode(b, obs, pos, ori, held, held_timer, code, timer, static, steps_left):
    """Write copy ``b``'s observation of both seats (see :mod:`.encoding` for the channels)."""
    n_cells = code.shape[1]
    view = obs[b].reshape((2, 26, n_cells))
    for seat in range(2):
        me, other = seat, 1 - seat
        view[seat, :10] = 0
        view[seat, 0, pos[b, me]] = 1
        view[seat, 2 + ori[b, me], pos[b, me]] = 1
        view[seat, 1, pos[b, other]] = 1
        view[seat, 6 + ori[b, other], pos[b, other]] = 1
        view[seat, 10:16] = static
    view[0, 16:25] = 0  # an empty cell (code 0, timer 0) has no object channels
    for c in range(n_cells):
        if code[b, c] != 0 or timer[b, c] != 0:
            _encode_cell(view, c, code[b, c], timer[b, c])
    for p in range(2):  # a held object replaces what lies under its holder (player 1 last)
        _encode_cell(view, pos[b, p], held[b, p], held_timer[b, p])
    view[0, 25] = 1 if steps_left < URGENCY_STEPS else 0
    view[1, 16:26] = view[0, 16:26]


@kernel
def _encode_cell(view, c, code, timer):
    """Channels 16-24 of one cell for seat 0, with the torch encoder's arithmetic: the code
    cast to ``uint8``, the timer to ``int16``, every result wrapped to ``uint8``."""
    grid = code & 255
    timers = ((timer + 32768) & 65535) - 32768
    cooking = min(max(timers, 0), 255)  # cook time remaining (0 unless cooking)
    kind = grid >> 4  # 0 nothing or an item, 1 idle soup, 3 soup that started cooking
    started = kind >> 1
    idle = ((kind & 1) - started) & 255
    item = (1 - min(kind, 1)) & 255  # 1 for nothing/onion/tomato/dish
    onions, tomatoes = grid & 3, (grid >> 2) & 3
    view[0, 16, c] = (onions * idle) & 255
    view[0, 17, c] = (tomatoes * idle) & 255
    view[0, 18, c] = (onions * started) & 255
    view[0, 19, c] = (tomatoes * started) & 255
    view[0, 20, c] = cooking
    view[0, 21, c] = (started - ((started * min(cooking, 1)) & 255)) & 255  # done
    items = (onions * item) & 255  # 1 onion, 2 tomato, 3 dish
    high = items >> 1
    dish = high & items
    view[0, 22, c] = dish
    view[0, 23, c] = ((items & 1) - dish) & 255
    view[0, 24, c] = (high - dish) & 255


@kernel
def observe(obs, pos, ori, held, held_timer, code, timer, static, t, horizon):
    """Write every copy's observation (both seats) into ``obs``."""
    for b in range(pos.shape[0]):
        _encode(b, obs, pos, ori, held, held_timer, code, timer, static, horizon - t[b])


@kernel
def reset_rows(
    done,
    pos,
    ori,
    held,
    held_timer,
    code,
    timer,
    t,
    episode_return,
    episode_events,
    start_pos,
    start_ori,
    start_held,
    start_held_timer,
    start_code,
    start_timer,
    static,
    horizon,
    obs,
):
    """Auto-reset: put the copies where ``done`` in the start state, zero their episode
    counters and re-observe them."""
    for b in range(done.shape[0]):
        if not done[b]:
            continue
        pos[b] = start_pos
        ori[b] = start_ori
        held[b] = start_held
        held_timer[b] = start_held_timer
        code[b] = start_code
        timer[b] = start_timer
        t[b] = 0
        episode_return[b] = 0.0
        episode_events[b] = 0.0
        _encode(b, obs, pos, ori, held, held_timer, code, timer, static, horizon)
