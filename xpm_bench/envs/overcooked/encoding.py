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
    DISH_DISPENSER,
    ONION_DISPENSER,
    POT,
    SERVE,
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

    Built for CPU speed in eager torch, where comparisons, advanced indexing and ``cat`` of
    many small chunks are slow: the static channels are written once per buffer, the player
    channels come from one ``index_select`` of precomputed 10-channel templates, and the object
    channels are contiguous uint8 arithmetic written straight into seat 0, then copied to seat 1.
    """

    # the joint (me, partner) template table is used while it stays this small
    MAX_JOINT_TABLE_BYTES = 4 << 20

    def __init__(self, layout: Layout, num_envs: int, device: torch.device):
        c = layout.num_cells
        self.num_cells = c
        self.static = static_planes(layout, device)
        self.one = torch.ones((), dtype=torch.uint8, device=device)
        me = torch.zeros(c * 4, 10, c, dtype=torch.uint8)
        partner = torch.zeros(c * 4, 10, c, dtype=torch.uint8)
        for cell in range(c):
            for o in range(4):
                me[cell * 4 + o, 0, cell] = me[cell * 4 + o, 2 + o, cell] = 1
                partner[cell * 4 + o, 1, cell] = partner[cell * 4 + o, 6 + o, cell] = 1
        self.joint = (c * 4) ** 2 * 10 * c <= self.MAX_JOINT_TABLE_BYTES
        if self.joint:  # row (me * 4C + partner): both players' channels at once
            table = (me.unsqueeze(1) | partner.unsqueeze(0)).reshape(-1, 10 * c)
            self.templates = table.to(device)
        else:
            self.templates_me = me.reshape(c * 4, 10 * c).to(device)
            self.templates_partner = partner.reshape(c * 4, 10 * c).to(device)

    def new_buffer(self, num_envs: int) -> Tensor:
        """An output buffer with the static terrain channels filled in."""
        buf = torch.zeros(
            num_envs, 2, NUM_CHANNELS, self.num_cells, dtype=torch.uint8, device=self.one.device
        )
        buf[:, :, FIRST_STATIC:FIRST_OBJECT] = self.static
        return buf

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
        """Fill the dynamic channels of ``out`` (from :meth:`new_buffer`) from the state;
        ``urgent [B]`` bool: fewer than 40 steps remain."""
        self._write_players(out, pos, ori)
        self._write_objects(out[:, 0], pos, held, held_timer, code, timer)
        out[:, 1, FIRST_OBJECT:URGENCY].copy_(out[:, 0, FIRST_OBJECT:URGENCY])
        out[:, :, URGENCY].copy_(urgent.view(-1, 1, 1).expand(-1, 2, self.num_cells))
        return out

    def _write_players(self, out: Tensor, pos: Tensor, ori: Tensor) -> None:
        """Channels 0-9 of both seats, one template row per seat straight into ``out``."""
        b, c = pos.shape[0], self.num_cells
        key = pos * 4 + ori  # [B, 2]
        partner_key = key.flip(1)
        rows = out.view(b * 2, NUM_CHANNELS * c)[:, : FIRST_STATIC * c]
        if self.joint:
            torch.index_select(self.templates, 0, (key * (4 * c) + partner_key).view(-1), out=rows)
        else:
            mine = self.templates_me.index_select(0, key.view(-1))
            theirs = self.templates_partner.index_select(0, partner_key.reshape(-1))
            torch.bitwise_or(mine, theirs, out=rows)

    def _write_objects(self, view, pos, held, held_timer, code, timer) -> None:
        """Channels 16-24 of one seat's ``view [B, 26, C]`` (held objects at their holder).

        Writes into ``view`` are strided (one short row per copy and channel) and cost about
        ten contiguous ops each on CPU, so every intermediate is contiguous and every channel
        is written exactly once.
        """
        grid = code.to(torch.uint8)
        grid.scatter_(1, pos, held.to(torch.uint8))
        timers = timer.to(torch.int16)
        timers.scatter_(1, pos, held_timer.to(torch.int16))
        cooking = timers.clamp_(0, 255).to(torch.uint8)  # cook time remaining (0 unless cooking)
        one = self.one
        kind = grid >> 4  # 0 nothing or an item, 1 idle soup, 3 soup that started cooking
        started = kind >> 1
        idle = (kind & one) - started
        item = one - kind.clamp(max=1)  # 1 for nothing/onion/tomato/dish
        onions, tomatoes = grid & 3, (grid >> 2) & 3
        torch.mul(onions, idle, out=view[:, 16])
        torch.mul(tomatoes, idle, out=view[:, 17])
        torch.mul(onions, started, out=view[:, 18])
        torch.mul(tomatoes, started, out=view[:, 19])
        view[:, 20].copy_(cooking)
        # done: started and nothing left to cook
        torch.sub(started, started * cooking.clamp(max=1), out=view[:, 21])
        items = onions * item  # 1 onion, 2 tomato, 3 dish
        high = items >> 1
        dish = high & items
        view[:, 22].copy_(dish)
        torch.sub(items & one, dish, out=view[:, 23])  # onion (code 1)
        torch.sub(high, dish, out=view[:, 24])  # tomato (code 2)
