"""Scripted Overcooked cooks that read the 26-channel lossless observation, batched in torch.

Observation: ``obs[B, 26, W, H]``, the encoding of ``overcooked_ai_py``'s
``OvercookedGridworld.lossless_state_encoding`` for one player, transposed channels-first
(``obs[b] = enc[p].transpose(2, 0, 1)``; cell ``(x, y)`` is ``obs[b, :, x, y]``). Channel order
(from ``overcooked_ai_py/mdp/overcooked_mdp.py`` 1.1.0): own position, partner position, own
orientation N/S/E/W, partner orientation N/S/E/W, pot, counter, onion dispenser, tomato
dispenser, dish dispenser, serving cell, onions in an idle pot, tomatoes in an idle pot, onions
in a cooking/cooked soup, tomatoes in a soup, cook time remaining, soup done, dishes, onions,
tomatoes, urgency. Held objects sit on their holder's cell.

Actions follow ``overcooked_ai_py``'s ``Action.ALL_ACTIONS``: north, south, east, west, stay,
interact. A player interacts with the cell it faces; moving toward a cell it cannot enter (a
counter, pot, dispenser) leaves it in place but turns it to face that cell.

Three roles (all stateless: the decision is a function of the observation):

- ``onion``: fetches onions and puts them in the nearest pot that still needs some;
- ``plate``: fetches a dish, takes a ready (or waits at a cooking) soup, serves it;
- ``full``: does both; ready soups first, then onions for pots that need them, then plating.

Navigation uses per-layout tables, built once per distinct static map and cached: for every
target cell and every partner position, the BFS distance from each floor cell to a floor cell
next to the target, avoiding the partner's cell, and the first move. A target the partner
cuts off (say, by standing on the only cell next to a pot) is skipped for the next job. When a
step fails because both players moved into the same cell, the cook takes one random move (a
seeded torch generator; ``reseed`` sets it), so two cooks cannot collide forever. When a cook cannot reach any pot (the split
kitchen of forced_coordination) it hands onions and dishes over on a counter that the other
side can reach, and cooks pick items up from counters as well as from dispensers.

These cooks work under the classic (2019) rule, where a pot starts cooking by itself at three
onions; under the 1.1.0 rule they also start an idle full pot by interacting with it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

Tensor = torch.Tensor

# Channels of the lossless encoding.
SELF_LOC, PARTNER_LOC = 0, 1
SELF_ORIENTATION = slice(2, 6)  # north, south, east, west
POT, COUNTER, ONION_DISPENSER, TOMATO_DISPENSER, DISH_DISPENSER, SERVE = range(10, 16)
ONIONS_IN_POT, TOMATOES_IN_POT, ONIONS_IN_SOUP, TOMATOES_IN_SOUP = range(16, 20)
COOK_TIME_REMAINING, SOUP_DONE, DISHES, ONIONS, TOMATOES, URGENCY = range(20, 26)
STATIC_CHANNELS = slice(POT, SERVE + 1)
OBJECT_CHANNELS = slice(ONIONS_IN_POT, TOMATOES + 1)
NUM_CHANNELS = 26

# Actions (overcooked_ai_py Action.INDEX_TO_ACTION order).
NORTH, SOUTH, EAST, WEST, STAY, INTERACT = range(6)
DIRECTIONS = ((0, -1), (0, 1), (1, 0), (-1, 0))  # (dx, dy) of NORTH, SOUTH, EAST, WEST
SOUP_ONIONS = 3
ROLES = ("onion", "plate", "full")

UNREACHABLE = 10**6


@dataclass
class LayoutTables:
    """Navigation tables of one static map, as torch tensors (cells indexed ``x * H + y``).

    Attributes:
        dist: ``[C partner, C own, C target]`` steps from ``own`` to a floor cell next to
            ``target`` avoiding ``partner``'s cell; ``UNREACHABLE`` if there is none.
        move: ``[C partner, C own, C target]`` first action of such a route; at distance 0, the
            direction that faces the target.
        free_dist: ``[C own, C target]`` the same distance ignoring the partner.
        pass_counters: ``[C own, C]`` bool, counters next to own's floor region and to another
            floor region (where items are handed over).
    """

    dist: Tensor
    move: Tensor
    free_dist: Tensor
    pass_counters: Tensor

    def to(self, device: torch.device) -> LayoutTables:
        return LayoutTables(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


def build_tables(walkable: np.ndarray, counters: np.ndarray) -> LayoutTables:
    """Build :class:`LayoutTables` from ``[W, H]`` bool masks of floor and counter cells."""
    w, h = walkable.shape
    n = w * h
    neighbours = _neighbours(w, h)
    floor = walkable.reshape(-1)
    dist = np.full((n, n, n), UNREACHABLE, dtype=np.int64)
    move = np.full((n, n, n), STAY, dtype=np.int64)
    free_dist = np.full((n, n), UNREACHABLE, dtype=np.int64)
    for target in range(n):
        if floor[target]:
            continue  # only non-floor cells are interaction targets
        free_dist[:, target] = _route(floor, neighbours, target, None)[0]
        for partner in np.flatnonzero(floor):
            dist[partner, :, target], move[partner, :, target] = _route(
                floor, neighbours, target, partner
            )
    region = _regions(floor, neighbours)
    pass_counters = _pass_counters(counters.reshape(-1), region, neighbours)
    return LayoutTables(
        torch.as_tensor(dist),
        torch.as_tensor(move),
        torch.as_tensor(free_dist),
        torch.as_tensor(pass_counters[region.clip(min=0)] & (region >= 0)[:, None]),
    )


def _neighbours(w: int, h: int) -> np.ndarray:
    """``[C, 4]`` cell reached by each direction, ``-1`` off the grid."""
    out = -np.ones((w * h, 4), dtype=np.int64)
    for x in range(w):
        for y in range(h):
            for d, (dx, dy) in enumerate(DIRECTIONS):
                nx, ny = x + dx, y + dy
                if 0 <= nx < w and 0 <= ny < h:
                    out[x * h + y, d] = nx * h + ny
    return out


def _route(
    floor: np.ndarray, neighbours: np.ndarray, target: int, blocked: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """BFS from the floor cells next to ``target`` (not ``blocked``) over floor cells."""
    n = len(floor)
    dist = np.full(n, UNREACHABLE, dtype=np.int64)
    move = np.full(n, STAY, dtype=np.int64)
    queue: deque[int] = deque()
    for d, cell in enumerate(neighbours[target]):
        if cell >= 0 and floor[cell] and cell != blocked:
            dist[cell] = 0
            move[cell] = _opposite(d)  # from ``cell``, face back toward the target
            queue.append(cell)
    while queue:
        cell = queue.popleft()
        for d, prev in enumerate(neighbours[cell]):
            if prev >= 0 and floor[prev] and prev != blocked and dist[prev] == UNREACHABLE:
                dist[prev] = dist[cell] + 1
                move[prev] = _opposite(d)  # step from ``prev`` back onto ``cell``
                queue.append(prev)
    return dist, move


def _opposite(direction: int) -> int:
    return {NORTH: SOUTH, SOUTH: NORTH, EAST: WEST, WEST: EAST}[direction]


def _regions(floor: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Connected floor component of each cell (``-1`` for non-floor)."""
    region = -np.ones(len(floor), dtype=np.int64)
    count = 0
    for start in np.flatnonzero(floor):
        if region[start] >= 0:
            continue
        region[start] = count
        stack = [start]
        while stack:
            cell = stack.pop()
            for nxt in neighbours[cell]:
                if nxt >= 0 and floor[nxt] and region[nxt] < 0:
                    region[nxt] = count
                    stack.append(nxt)
        count += 1
    return region


def _pass_counters(counters: np.ndarray, region: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """``[R, C]`` counters next to region ``r`` and to at least one other region."""
    n_regions = int(region.max()) + 1 if (region >= 0).any() else 1
    out = np.zeros((n_regions, len(counters)), dtype=bool)
    for cell in np.flatnonzero(counters):
        touching = {int(region[c]) for c in neighbours[cell] if c >= 0 and region[c] >= 0}
        if len(touching) > 1:
            for r in touching:
                out[r, cell] = True
    return out


class OvercookedCook:
    """A scripted cook (role ``onion``, ``plate`` or ``full``; see the module docstring).

    ``act(obs[B, 26, W, H], carry) -> (action[B], carry)``; the carry is unused (None). All
    rows of a batch may use different layouts; tables are cached per static map.
    """

    def __init__(
        self, role: str = "full", name: str | None = None, seed: int = 0, patience: int = 4
    ):
        if role not in ROLES:
            raise ValueError(f"unknown cook role {role!r}; accepted: {', '.join(ROLES)}")
        self.role = role
        self.name = name or f"{role}-cook"
        self.seed = seed
        self.patience = patience
        self.generator = torch.Generator().manual_seed(seed)
        self._tables: dict[bytes, LayoutTables] = {}

    def reseed(self, seed: int) -> None:
        """Make the collision-breaking random moves a function of ``seed``."""
        self.generator.manual_seed(seed)

    def reset_carry(self, batch: int) -> None:
        """The carry starts empty (None). It then holds ``(last cell, walking, waited)``:
        whether the last action was a step meant to change cell (so the cook notices when a
        collision stopped it), and how many steps it has waited for a partner that blocks its
        job."""
        return None

    def act(self, obs: Tensor, carry: Any = None) -> tuple[Tensor, Any]:
        """Actions ``[B]`` for observations ``[B, 26, W, H]``; see the class docstring."""
        obs = torch.as_tensor(obs)
        if obs.ndim != 4 or obs.shape[1] != NUM_CHANNELS:
            raise ValueError(f"expected obs of shape [B, 26, W, H], got {tuple(obs.shape)}")
        obs = obs.float()
        b, device = obs.shape[0], obs.device
        own = obs[:, SELF_LOC].flatten(1).argmax(dim=1)
        fresh = carry is None or carry[0].shape != own.shape
        waited = torch.zeros(b, dtype=torch.int64, device=device) if fresh else carry[2]
        static = obs[:, STATIC_CHANNELS] > 0
        first = static[0]
        if bool((static == first).all()):
            tables = self._layout_tables(first, device)
            action, walking, waited = self._act_layout(obs, tables, waited)
        else:
            action = torch.empty(b, dtype=torch.int64, device=device)
            walking = torch.empty(b, dtype=torch.bool, device=device)
            waited = waited.clone()
            keys = static.flatten(1)
            for key in torch.unique(keys, dim=0):  # rows grouped by layout
                rows = (keys == key).all(dim=1)
                tables = self._layout_tables(static[rows][0], device)
                action[rows], walking[rows], waited[rows] = self._act_layout(
                    obs[rows], tables, waited[rows]
                )
        if not fresh:
            # A step that should have changed cell but did not: the partner moved into the same
            # cell (both stay). A random move breaks the tie, which a deterministic rule that
            # both cooks follow could repeat forever.
            collided = carry[1] & (carry[0].to(device) == own)
            if bool(collided.any()):
                noise = torch.randint(5, (b,), generator=self.generator).to(device)
                action = torch.where(collided, noise, action)
                walking = walking & ~collided
        return action, (own, walking, waited)

    # ------------------------------------------------------------------ tables
    def _layout_tables(self, static: Tensor, device: torch.device) -> LayoutTables:
        mask = static.cpu().numpy()
        key = mask.shape[1:].__repr__().encode() + np.packbits(mask).tobytes()
        if key not in self._tables:
            walkable = ~mask.any(axis=0)
            counters = mask[COUNTER - POT]
            self._tables[key] = build_tables(walkable, counters)
        tables = self._tables[key]
        if tables.dist.device != device:
            tables = self._tables[key] = tables.to(device)
        return tables

    # ---------------------------------------------------------------- decision
    def _act_layout(
        self, obs: Tensor, tables: LayoutTables, waited: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(action[B], walking[B], waited[B])`` for rows that share one layout.

        The cook picks its job as if the partner were not in the way. If the partner cuts off
        every target of that job, it waits up to ``patience`` steps for the partner to move on,
        then takes the best job it can do with the partner where it stands.
        """
        b = obs.shape[0]
        rows = torch.arange(b, device=obs.device)
        grid = obs.flatten(2)  # [B, 26, C]
        own = grid[:, SELF_LOC].argmax(dim=1)
        partner = grid[:, PARTNER_LOC].argmax(dim=1)
        facing = grid[rows, SELF_ORIENTATION, :][rows, :, own].argmax(dim=1)
        reach = tables.free_dist[own] < UNREACHABLE  # [B, C] reachable in an empty kitchen
        dist = tables.dist[partner, own]  # [B, C] avoiding the partner's cell
        reach_now = dist < UNREACHABLE
        goal, interact = self._goal(grid, own, partner, reach, tables)
        blocked = goal.any(dim=1) & ~(goal & reach_now).any(dim=1)
        patient = blocked & (waited < self.patience)
        detour = blocked & ~patient
        if bool(detour.any()):
            goal_now, interact_now = self._goal(grid, own, partner, reach_now, tables)
            goal = torch.where(detour[:, None], goal_now, goal)
            interact = torch.where(detour, interact_now, interact)
        goal = goal & reach_now
        target = dist.masked_fill(~goal, UNREACHABLE + 1).argmin(dim=1)
        has_goal = goal.any(dim=1)
        step = tables.move[partner, own, target]
        at_goal = dist[rows, target] == 0
        on_spot = torch.where(interact, INTERACT, STAY)
        action = torch.where(at_goal & (facing == step), on_spot, step)
        action = torch.where(has_goal, action, torch.full_like(action, STAY))
        walking = has_goal & ~at_goal
        waited = torch.where(blocked, waited + patient.long(), torch.zeros_like(waited))
        return action, walking, waited

    def _goal(
        self,
        grid: Tensor,
        own: Tensor,
        partner: Tensor,
        reach: Tensor,
        tables: LayoutTables,
    ) -> tuple[Tensor, Tensor]:
        """``([B, C] bool target cells, [B] bool interact on arrival)`` by the role's priorities,
        among the cells in ``reach`` (``[B, C]``)."""
        b = grid.shape[0]
        rows = torch.arange(b, device=grid.device)
        at_own = grid[rows, :, own]  # [B, 26]: what sits on the ego cell (held object)
        at_partner = grid[rows, :, partner]
        holds_onion = at_own[:, ONIONS] > 0
        holds_dish = at_own[:, DISHES] > 0
        holds_soup = (at_own[:, SOUP_DONE] > 0) | (at_own[:, ONIONS_IN_SOUP] > 0)
        holds_nothing = ~(holds_onion | holds_dish | holds_soup | (at_own[:, TOMATOES] > 0))
        partner_onion = at_partner[:, ONIONS] > 0
        partner_dish = at_partner[:, DISHES] > 0

        pot = grid[:, POT] > 0
        counter = grid[:, COUNTER] > 0
        in_pot = grid[:, ONIONS_IN_POT]
        done = grid[:, SOUP_DONE] > 0
        soup = grid[:, ONIONS_IN_SOUP] > 0
        ready = pot & done
        cooking = pot & soup & ~done
        needs_onion = pot & ~soup & (in_pot < SOUP_ONIONS)
        idle_full = pot & ~soup & (in_pot >= SOUP_ONIONS)  # 1.1.0 rule: must be started
        loose_onion = counter & (grid[:, ONIONS] > 0)
        loose_dish = counter & (grid[:, DISHES] > 0)
        empty_counter = counter & (grid[:, OBJECT_CHANNELS].sum(dim=1) == 0)
        pass_counter = tables.pass_counters[own] & empty_counter

        # whether the layout lets this cook reach a pot at all (else it hands items over)
        reach_pot = (pot & (tables.free_dist[own] < UNREACHABLE)).any(dim=1)
        onions_wanted = ((SOUP_ONIONS - in_pot) * needs_onion).sum(dim=1)
        # A cook at the pots fetches onions the partner is not already carrying; a cook that
        # hands onions over also counts the ones waiting on counters, so it does not flood them.
        fetch_onions = onions_wanted - partner_onion.float() > 0
        pass_onions = onions_wanted - partner_onion.float() - loose_onion.sum(dim=1) > 0
        plating_due = (ready | cooking).any(dim=1)
        dish_coming = loose_dish.any(dim=1) | partner_dish

        onion_source = (grid[:, ONION_DISPENSER] > 0) | loose_onion
        dish_source = (grid[:, DISH_DISPENSER] > 0) | loose_dish
        serve = grid[:, SERVE] > 0
        yes = torch.ones(b, dtype=torch.bool, device=grid.device)
        does_onions = self.role in ("onion", "full")
        does_plates = self.role in ("plate", "full")

        # (row condition, target cells, interact on arrival), in priority order
        rules: list[tuple[Tensor, Tensor, bool]] = [(holds_soup, serve, True)]
        if does_plates:
            rules += [
                (holds_dish, ready, True),
                (holds_dish & ~reach_pot, pass_counter, True),
            ]
        if does_onions:
            rules += [
                (holds_onion, needs_onion, True),
                (holds_onion & ~reach_pot, pass_counter, True),
            ]
        if does_plates:
            rules += [(holds_dish, cooking, False)]
        if self.role == "full":  # free the hands for the other job
            rules += [(holds_dish | holds_onion, empty_counter, True)]
        if does_plates:
            rules += [
                (holds_dish, grid[:, DISH_DISPENSER] > 0, False),
                (holds_nothing & ready.any(dim=1), dish_source, True),
            ]
        if does_onions:
            rules += [
                (holds_nothing & reach_pot & idle_full.any(dim=1), idle_full, True),
                (holds_nothing & fetch_onions & reach_pot, onion_source, True),
                (holds_nothing & pass_onions & ~reach_pot, grid[:, ONION_DISPENSER] > 0, True),
                (holds_onion, grid[:, ONION_DISPENSER] > 0, False),
            ]
        if does_plates:
            # a full cook leaves plating to a partner that already carries a dish
            spare = ~partner_dish if self.role == "full" else yes
            rules += [
                (holds_nothing & plating_due & reach_pot & spare, dish_source, True),
                (
                    holds_nothing & plating_due & ~reach_pot & ~dish_coming,
                    grid[:, DISH_DISPENSER] > 0,
                    True,
                ),
            ]
            if self.role == "plate":
                rules += [(holds_nothing & reach_pot, dish_source, True)]
        # Nothing to do: wait by the own supply rather than where the partner may need to pass
        # (an idle cook on the only cell next to a pot would block the kitchen).
        rest = grid[:, DISH_DISPENSER] if self.role == "plate" else grid[:, ONION_DISPENSER]
        rules += [(yes, rest > 0, False), (yes, counter, False)]
        return _first_available(rules, reach, yes)


def _first_available(
    rules: list[tuple[Tensor, Tensor, bool]], reach: Tensor, yes: Tensor
) -> tuple[Tensor, Tensor]:
    """Per row, the targets of the first rule whose condition holds and that has a reachable
    target cell; rows matching no rule get no target."""
    goal = torch.zeros_like(reach)
    interact = torch.zeros_like(yes)
    chosen = torch.zeros_like(yes)
    for condition, cells, on_arrival in rules:
        targets = cells & reach
        take = condition & targets.any(dim=1) & ~chosen
        goal = torch.where(take[:, None], targets, goal)
        interact = torch.where(take, yes if on_arrival else ~yes, interact)
        chosen |= take
    return goal, interact


def overcooked_cooks() -> dict[str, OvercookedCook]:
    """One cook of every role, by name (``onion-cook``, ``plate-cook``, ``full-cook``)."""
    return {f"{role}-cook": OvercookedCook(role) for role in ROLES}
