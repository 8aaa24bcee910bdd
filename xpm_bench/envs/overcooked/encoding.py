"""The 26-channel lossless encoding of overcooked-ai, channels first, as ``uint8``.

``obs[b, p]`` equals ``np.transpose(mdp.lossless_state_encoding(state)[p], (2, 0, 1))``:
a ``[26, W, H]`` stack whose channels are

====== ==============================================================
0, 1   own position, partner position
2-5    own orientation (north, south, east, west) at own position
6-9    partner orientation at partner position
10-15  pot, counter, onion dispenser, tomato dispenser, dish dispenser, serving cells
16, 17 onions / tomatoes in idle soups (in pots)
18, 19 onions / tomatoes in soups that started cooking, or are held or on counters
20     cook time remaining of cooking soups (clamped at 0, see below)
21     soup done (ready in a pot, held, or on a counter)
22-24  dishes, onions, tomatoes (held or on counters)
25     urgency: all ones when fewer than 40 steps remain before the horizon
====== ==============================================================

The one difference: the reference writes ``cook_time - tick`` for every started soup in a pot,
which turns negative for ready soups whose tick passed the cook time. That never happens under
the 1.1.0 rule (cooking stops at the cook time) but is the normal case under the 2019 rule; we
clamp it at 0 so the observation stays a small non-negative integer.
"""

from __future__ import annotations

import torch

from xpm_bench.envs.overcooked.layout import (
    COUNTER,
    DISH,
    DISH_DISPENSER,
    ONION,
    ONION_DISPENSER,
    POT,
    SERVE,
    TOMATO,
    TOMATO_DISPENSER,
    Layout,
)

Tensor = torch.Tensor
NUM_CHANNELS = 26
STATIC_TERRAIN = (POT, COUNTER, ONION_DISPENSER, TOMATO_DISPENSER, DISH_DISPENSER, SERVE)
FIRST_STATIC, FIRST_OBJECT, URGENCY = 10, 16, 25
URGENCY_STEPS = 40


def static_planes(layout: Layout, device: torch.device) -> Tensor:
    """``[6, C]`` uint8: the terrain channels 10-15."""
    terrain = torch.as_tensor(layout.terrain, device=device)
    return torch.stack([terrain == t for t in STATIC_TERRAIN]).to(torch.uint8)


def new_buffer(layout: Layout, num_envs: int, device: torch.device) -> Tensor:
    """An observation buffer ``[B, 2, 26, C]`` with the static terrain channels filled in."""
    buf = torch.zeros(num_envs, 2, NUM_CHANNELS, layout.num_cells, dtype=torch.uint8, device=device)
    buf[:, :, FIRST_STATIC:FIRST_OBJECT] = static_planes(layout, device)
    return buf


def write_players(out: Tensor, pos: Tensor, ori: Tensor) -> None:
    """Channels 0-9 of both seats of ``out [B, 2, 26, C]`` from ``pos, ori [B, 2]``."""
    b, _, _, c = out.shape
    out[:, :, :FIRST_STATIC].zero_()
    seat = NUM_CHANNELS * c
    me, other = pos, pos.flip(1)
    my_ori, other_ori = ori, ori.flip(1)
    base = torch.arange(2, device=pos.device) * seat  # seat offsets, [2]
    idx = torch.cat(
        [
            base + me,
            base + c + other,
            base + (2 + my_ori) * c + me,
            base + (6 + other_ori) * c + other,
        ],
        dim=1,
    )
    out.view(b, -1).scatter_(1, idx, 1)


def write_objects(
    out: Tensor,
    pos: Tensor,
    held: Tensor,
    held_timer: Tensor,
    code: Tensor,
    timer: Tensor,
    urgent: Tensor,
) -> None:
    """Channels 16-25 of both seats of ``out`` (held objects drawn at their holder's cell).

    ``urgent [B]`` bool: fewer than 40 steps remain.
    """
    grid = code.clone()
    grid.scatter_(1, pos, held)
    timers = timer.clone()
    timers.scatter_(1, pos, held_timer)
    view = out[:, 0]
    kind = grid >> 4  # 0 nothing or an item, 1 idle soup, 3 soup that started cooking
    soup = kind & 1
    started = kind >> 1
    onions = (grid & 3) * soup
    tomatoes = ((grid >> 2) & 3) * soup
    torch.mul(onions, started, out=view[:, 18])
    torch.mul(tomatoes, started, out=view[:, 19])
    torch.sub(onions, view[:, 18], out=view[:, 16])
    torch.sub(tomatoes, view[:, 19], out=view[:, 17])
    view[:, 20].copy_(timers.clamp(min=0))
    torch.mul(started, timers <= 0, out=view[:, 21])
    view[:, 22].copy_(grid == DISH)
    view[:, 23].copy_(grid == ONION)
    view[:, 24].copy_(grid == TOMATO)
    view[:, URGENCY].copy_(urgent.unsqueeze(1).expand_as(grid))
    out[:, 1, FIRST_OBJECT:].copy_(out[:, 0, FIRST_OBJECT:])
