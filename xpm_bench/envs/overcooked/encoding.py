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


class Encoder:
    """Writes observations into ``[B, 2, 26, C]`` uint8 tensors.

    Built for CPU speed: only contiguous arithmetic on ``[B, C]`` planes (comparisons and
    strided writes are slow in eager torch), then a single ``torch.cat`` into the output.
    """

    def __init__(self, layout: Layout, num_envs: int, device: torch.device):
        c = layout.num_cells
        self.num_cells = c
        self.static = static_planes(layout, device).expand(num_envs, 2, 6, c).contiguous()
        self.eye = torch.eye(c, dtype=torch.uint8, device=device)
        self.ori_eye = torch.eye(4, dtype=torch.uint8, device=device)
        self.one = torch.ones((), dtype=torch.uint8, device=device)

    def new_buffer(self, num_envs: int) -> Tensor:
        return torch.empty(
            num_envs, 2, NUM_CHANNELS, self.num_cells, dtype=torch.uint8, device=self.eye.device
        )

    def write(
        self,
        out: Tensor,
        pos: Tensor,
        ori: Tensor,
        held: Tensor,
        held_timer: Tensor,
        code: Tensor,
        timer: Tensor,
        urgent: Tensor,
    ) -> Tensor:
        """Fill ``out [B, 2, 26, C]`` from the state; ``urgent [B]``: under 40 steps remain."""
        b, c = code.shape
        loc = self.eye[pos]  # [B, 2, C]: each player's cell
        facing = loc.unsqueeze(2) * self.ori_eye[ori].unsqueeze(3)  # [B, 2, 4, C]
        swap = [1, 0]
        objects = self._object_planes(pos, held, held_timer, code, timer, urgent)  # [B, 10, C]
        objects = torch.cat([objects, objects], dim=1).view(b, 2, 10, c)
        torch.cat(
            [
                loc.unsqueeze(2),
                loc[:, swap].unsqueeze(2),
                facing,
                facing[:, swap],
                self.static,
                objects,
            ],
            dim=2,
            out=out,
        )
        return out

    def _object_planes(self, pos, held, held_timer, code, timer, urgent) -> Tensor:
        """Channels 16-25 as a contiguous ``[B, 10, C]`` (held objects at their holder's cell)."""
        grid = code.clone()
        grid.scatter_(1, pos, held)
        timers = timer.clone()
        timers.scatter_(1, pos, held_timer)
        one = self.one
        kind = grid >> 4  # 0 nothing or an item, 1 idle soup, 3 soup that started cooking
        soup = kind & one
        started = kind >> 1
        item = one - torch.minimum(kind, one)  # 1 for nothing/onion/tomato/dish
        low, high = grid & one, (grid >> 1) & one
        onions = (grid & 3) * soup
        tomatoes = ((grid >> 2) & 3) * soup
        cooked_onions = onions * started
        cooked_tomatoes = tomatoes * started
        # timer <= 0  <=>  the sign bit of (timer - 1) is set
        not_positive = (((timers - 1) >> 15) & 1).to(torch.uint8)
        planes = [
            onions - cooked_onions,  # 16 onions in idle soups
            tomatoes - cooked_tomatoes,  # 17
            cooked_onions,  # 18
            cooked_tomatoes,  # 19
            torch.relu(timers).to(torch.uint8),  # 20 cook time remaining
            started * not_positive,  # 21 done
            low * high * item,  # 22 dish (code 3)
            low * (one - high) * item,  # 23 onion (code 1)
            high * (one - low) * item,  # 24 tomato (code 2)
            urgent.to(torch.uint8).view(-1, 1).expand(-1, grid.shape[1]),  # 25
        ]
        return torch.stack(planes, dim=1)
