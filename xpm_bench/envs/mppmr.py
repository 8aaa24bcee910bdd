"""Multi-Path Point-Mass Rendezvous (MPPMR): a deterministic grid game with known conventions.

Two agents start side by side on a 3x3 central hub. ``n_landmarks`` arms (up, right, down,
left, in that order) leave the hub; each arm is a short stem, then a cross corridor that splits
into ``n_lanes`` parallel lanes of ``lane_length`` cells separated by walls, then a corridor
where the lanes rejoin, then the arm's landmark. Both agents standing on the same landmark is a
rendezvous: team reward 1 and the episode ends. ``quit`` ends the episode at once with reward 0
(it overrides a rendezvous on the same step); the horizon ends it with reward 0.

There are ``n_landmarks`` reward-distinct conventions (which landmark) and, within each,
``n_lanes`` reward-equivalent routes that can serve only as handshakes. With population size
``M <= n_landmarks`` a population can be fully incompatible in good faith; with more members,
zero cross-play needs sabotage (docs/references.md, section 2).

Layout for the defaults (``A``/``B`` the two agents, digits the landmarks)::

    #######0#######
    ######...######
    ######.#.######
    ######.#.######
    ######...######
    #######.#######
    ###.##...##.###
    3...#.AB..#...1     (the hub is the 3x3 block around A B)
    ###.##...##.###
    ...

Observation (per seat, ego first, float32): one-hot of own cell, one-hot of partner cell,
``t / horizon``. Actions: stay, up, down, left, right, quit. Moving into a wall leaves the agent
in place; agents may share a cell.

Events per player: ``lane_{k}_{p}`` (entered lane p of arm k from outside it),
``landmark_{k}`` (stepped onto landmark k), ``rendezvous`` (fires for both players on the step
they meet), ``quit``. Sparse reward weights: ``rendezvous = 0.5`` per player, so the team
reward of a rendezvous is 1.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from xpm_bench.envs.backends import sums_exact_in_any_order
from xpm_bench.envs.base import NUM_PLAYERS, BatchedEnv, Tensor
from xpm_bench.errors import EnvArgumentError

ACTION_NAMES = ("stay", "up", "down", "left", "right", "quit")
QUIT = 5
MOVES = ((0, 0), (0, -1), (0, 1), (-1, 0), (1, 0), (0, 0))  # (dx, dy); y grows downwards
ARM_DIRECTIONS = ((0, -1), (1, 0), (0, 1), (-1, 0))  # up, right, down, left
START_OFFSETS = ((-1, 0), (1, 0))  # seat 0 left of the hub centre, seat 1 right of it


@dataclass(frozen=True)
class MPPMRLayout:
    """The static geometry: open cells, transition table and what each cell means."""

    n_landmarks: int
    n_lanes: int
    lane_length: int
    grid: np.ndarray  # [H, W] int: -1 wall, else open-cell index
    cells: np.ndarray  # [N, 2] (x, y) of each open cell
    next_cell: np.ndarray  # [N, 6] cell reached by each action
    lane_of: np.ndarray  # [N] lane id k * n_lanes + p, or -1
    landmark_of: np.ndarray  # [N] landmark id, or -1
    start_cells: tuple[int, int]

    @property
    def num_cells(self) -> int:
        return len(self.cells)


def build_layout(n_landmarks: int = 4, n_lanes: int = 2, lane_length: int = 2) -> MPPMRLayout:
    """Lay out the hub, arms, lanes and landmarks on a grid and index the open cells."""
    if not 1 <= n_landmarks <= len(ARM_DIRECTIONS):
        raise EnvArgumentError(f"n_landmarks must be in 1..4, got {n_landmarks}")
    if n_lanes < 1 or lane_length < 1:
        raise EnvArgumentError(
            f"n_lanes and lane_length must be >= 1, got {n_lanes}, {lane_length}"
        )
    split = max(n_lanes + 1, 3)  # distance of the split corridor; keeps arms from touching
    reach = split + lane_length + 2  # distance of the landmark from the hub centre
    size = 2 * reach + 1
    kind: dict[tuple[int, int], tuple[str, int]] = {}
    for x in range(-1, 2):
        for y in range(-1, 2):
            kind[(x, y)] = ("hub", -1)
    offsets = [-(n_lanes - 1) + 2 * p for p in range(n_lanes)]
    for k in range(n_landmarks):
        dx, dy = ARM_DIRECTIONS[k]
        ex, ey = -dy, dx  # perpendicular to the arm

        def at(
            a: int, o: int, dx: int = dx, dy: int = dy, ex: int = ex, ey: int = ey
        ) -> tuple[int, int]:
            return (a * dx + o * ex, a * dy + o * ey)

        for a in range(2, split):
            kind[at(a, 0)] = ("stem", -1)
        for o in range(offsets[0], offsets[-1] + 1):
            kind[at(split, o)] = ("split", -1)
            kind[at(split + lane_length + 1, o)] = ("rejoin", -1)
        for p, o in enumerate(offsets):
            for a in range(split + 1, split + lane_length + 1):
                kind[at(a, o)] = ("lane", k * n_lanes + p)
        kind[at(reach, 0)] = ("landmark", k)

    grid = -np.ones((size, size), dtype=np.int64)
    coords = sorted(kind, key=lambda c: (c[1], c[0]))  # row-major order
    for i, (x, y) in enumerate(coords):
        grid[y + reach, x + reach] = i
    cells = np.array([(x + reach, y + reach) for x, y in coords], dtype=np.int64)
    next_cell = np.zeros((len(coords), len(MOVES)), dtype=np.int64)
    for i, (x, y) in enumerate(cells):
        for a, (mx, my) in enumerate(MOVES):
            nx, ny = x + mx, y + my
            inside = 0 <= nx < size and 0 <= ny < size
            next_cell[i, a] = grid[ny, nx] if inside and grid[ny, nx] >= 0 else i
    lane_of = np.array([kind[c][1] if kind[c][0] == "lane" else -1 for c in coords])
    landmark_of = np.array([kind[c][1] if kind[c][0] == "landmark" else -1 for c in coords])
    starts = tuple(int(grid[reach + oy, reach + ox]) for ox, oy in START_OFFSETS)
    return MPPMRLayout(
        n_landmarks, n_lanes, lane_length, grid, cells, next_cell, lane_of, landmark_of, starts
    )


def event_names_for(n_landmarks: int, n_lanes: int) -> list[str]:
    lanes = [f"lane_{k}_{p}" for k in range(n_landmarks) for p in range(n_lanes)]
    return lanes + [f"landmark_{k}" for k in range(n_landmarks)] + ["rendezvous", "quit"]


class MPPMREnv(BatchedEnv):
    """Batched MPPMR; see the module docstring for the rules."""

    action_names = ACTION_NAMES
    num_actions = len(ACTION_NAMES)
    state_keys = ("pos",)
    observation_bounds = (0.0, 1.0)
    numba_kernels = True  # numba 3.3x torch at every batch up to 8192 copies (one thread)

    def __init__(
        self,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        n_landmarks: int = 4,
        n_lanes: int = 2,
        lane_length: int = 2,
        horizon: int = 16,
        reward_weights: str | list[float] | Tensor = "sparse",
        backend: str = "auto",
    ):
        self.layout = build_layout(n_landmarks, n_lanes, lane_length)
        self.event_names = event_names_for(n_landmarks, n_lanes)
        sparse = [0.0] * len(self.event_names)
        sparse[self.event_names.index("rendezvous")] = 0.5
        self.reward_sets = {"sparse": sparse}
        n = self.layout.num_cells
        self.observation_shape = (2 * n + 1,)
        super().__init__(num_envs, device, horizon, reward_weights, backend)
        dev = self.device
        self._next_cell = torch.as_tensor(self.layout.next_cell, device=dev)
        self._lane_of = torch.as_tensor(self.layout.lane_of, device=dev)
        self._landmark_of = torch.as_tensor(self.layout.landmark_of, device=dev)
        self._start = torch.tensor(self.layout.start_cells, device=dev)
        self.pos = self._start.expand(self.num_envs, NUM_PLAYERS).clone()
        self._n_lane_events = n_landmarks * n_lanes
        self._rendezvous_index = self.event_names.index("rendezvous")
        self._eye = torch.eye(n, device=dev)
        if self.backend == "numba":
            from xpm_bench.envs import mppmr_kernels

            self._kernels = mppmr_kernels
            self._arrays = self._bind_kernel_arrays()
            self._start_array = self._start.numpy()
            self._load_kernels()

    def set_reward_weights(self, weights: Any) -> None:
        super().set_reward_weights(weights)
        # the numba kernel sums rewards itself only where the order of the sum cannot matter
        self._kernel_sums_rewards = sums_exact_in_any_order(self.reward_weights)
        if self.backend == "numba":
            self._weights_array = self.reward_weights.numpy()

    def set_state(self, state: dict[str, Tensor]) -> None:
        """Restore a snapshot from :meth:`get_state` (cells are checked against the layout)."""
        pos = torch.as_tensor(state.get("pos", self.pos))
        if pos.numel() and (int(pos.min()) < 0 or int(pos.max()) >= self.layout.num_cells):
            raise EnvArgumentError(
                f"state['pos'] holds cells in [{int(pos.min())}, {int(pos.max())}]; "
                f"accepted: 0 to {self.layout.num_cells - 1}"
            )
        super().set_state(state)

    def _reset_where(self, mask: Tensor) -> None:
        self.pos[mask] = self._start

    def _transition(self, actions: Tensor) -> tuple[Tensor, Tensor]:
        prev = self.pos
        pos = torch.gather(self._next_cell[prev], 2, actions.unsqueeze(-1)).squeeze(-1)
        quit_ = actions == QUIT
        any_quit = quit_.any(dim=1)
        landmark = self._landmark_of[pos]
        met = (pos[:, 0] == pos[:, 1]) & (landmark[:, 0] >= 0) & ~any_quit
        events = self._events(prev, pos, quit_, met)
        self.pos = pos
        return events, met | any_quit

    def _events(self, prev: Tensor, pos: Tensor, quit_: Tensor, met: Tensor) -> Tensor:
        n_lanes_total, k = self._n_lane_events, self.layout.n_landmarks
        lane, prev_lane = self._lane_of[pos], self._lane_of[prev]
        lane_entered = (lane >= 0) & (lane != prev_lane)
        landmark, prev_landmark = self._landmark_of[pos], self._landmark_of[prev]
        landmark_reached = (landmark >= 0) & (landmark != prev_landmark)
        events = torch.zeros(self.num_envs, NUM_PLAYERS, self.num_events, device=self.device)
        lane_hot = torch.nn.functional.one_hot(lane.clamp(min=0), n_lanes_total).float()
        events[..., :n_lanes_total] = lane_hot * lane_entered.unsqueeze(-1)
        mark_hot = torch.nn.functional.one_hot(landmark.clamp(min=0), k).float()
        events[..., n_lanes_total : n_lanes_total + k] = mark_hot * landmark_reached.unsqueeze(-1)
        events[..., self._rendezvous_index] = met.unsqueeze(-1).float()
        events[..., -1] = quit_.float()
        return events

    def _observe(self) -> Tensor:
        if self.backend == "numba":
            obs, obs_array, _, _ = self._kernel_outputs()
            a = self._arrays
            self._kernels.observe(obs_array, a["pos"], a["t"], self.horizon)
            return obs
        own = self._eye[self.pos]  # [B, 2, N]
        partner = own.flip(1)
        time = (self.t.float() / self.horizon).view(-1, 1, 1).expand(-1, NUM_PLAYERS, 1)
        return torch.cat([own, partner, time], dim=2)

    # ---------------------------------------------------------- numba backend
    def _kernel_step(self, actions, outputs, reward, terminated, truncated) -> int:
        events, events_array = outputs[2:]
        a = self._arrays
        n_done = self._kernels.step(
            actions, a["pos"], a["t"], a["episode_return"], a["episode_events"],
            self.layout.next_cell, self.layout.lane_of, self.layout.landmark_of,
            self._n_lane_events, self._weights_array, self._kernel_sums_rewards,
            self.horizon, outputs[1], events_array, reward, terminated, truncated,
        )  # fmt: skip
        if n_done >= 0 and not self._kernel_sums_rewards:  # the torch engine's matmul
            rewards = self.rewards_from_events(events)
            reward[:] = rewards.numpy()
            self._episode_return += rewards
        return n_done

    def _kernel_reset(self, done: np.ndarray, obs: np.ndarray) -> None:
        a = self._arrays
        self._kernels.reset_rows(
            done, a["pos"], a["t"], a["episode_return"], a["episode_events"],
            self._start_array, self.horizon, obs,
        )  # fmt: skip

    # --------------------------------------------------------------- render
    def render_ansi(self, index: int = 0) -> str:
        layout = self.layout
        chars = np.where(layout.grid >= 0, ".", "#").astype("<U1")
        for cell, k in enumerate(layout.landmark_of):
            if k >= 0:
                x, y = layout.cells[cell]
                chars[y, x] = str(k)
        pos = self.pos[index].tolist()
        for seat, cell in enumerate(pos):
            x, y = layout.cells[cell]
            chars[y, x] = "*" if pos[0] == pos[1] else "AB"[seat]
        return "\n".join("".join(row) for row in chars) + f"\nt={int(self.t[index])}/{self.horizon}"

    def render_rgb(self, index: int = 0, cell_px: int = 16) -> np.ndarray:
        layout = self.layout
        colours = {
            "wall": (40, 40, 48),
            "open": (230, 230, 220),
            "lane": (200, 215, 235),
            "landmark": (250, 200, 60),
        }
        h, w = layout.grid.shape
        img = np.zeros((h, w, 3), dtype=np.uint8)
        img[:] = colours["wall"]
        for cell, (x, y) in enumerate(layout.cells):
            name = (
                "landmark"
                if layout.landmark_of[cell] >= 0
                else "lane"
                if layout.lane_of[cell] >= 0
                else "open"
            )
            img[y, x] = colours[name]
        img = img.repeat(cell_px, 0).repeat(cell_px, 1)
        seat_colours = ((40, 90, 220), (230, 90, 30))
        pos = self.pos[index].tolist()
        for seat, cell in enumerate(pos):
            x, y = layout.cells[cell]
            pad = cell_px // 4
            x0, y0 = x * cell_px + pad, y * cell_px + pad
            if pos[0] == pos[1]:  # both on one cell: split it left/right
                half = (cell_px - 2 * pad) // 2
                x0 += seat * half
                img[y0 : y0 + cell_px - 2 * pad, x0 : x0 + half] = seat_colours[seat]
            else:
                img[y0 : y0 + cell_px - 2 * pad, x0 : x0 + cell_px - 2 * pad] = seat_colours[seat]
        return img

    # ------------------------------------------------------------ helpers
    def own_cell(self, obs: Tensor) -> Tensor:
        """Decode the ego agent's cell index from observations ``[..., obs_dim]``."""
        return obs[..., : self.layout.num_cells].argmax(dim=-1)


def shortest_distances(layout: MPPMRLayout, target: int, blocked: np.ndarray) -> np.ndarray:
    """BFS distance from every cell to ``target`` avoiding cells where ``blocked`` (inf if none)."""
    dist = np.full(layout.num_cells, np.inf)
    dist[target] = 0
    queue = deque([target])
    while queue:
        cell = queue.popleft()
        for nxt in layout.next_cell[cell, 1:5]:  # moves are symmetric, so reverse edges match
            if not blocked[nxt] and dist[nxt] == np.inf:
                dist[nxt] = dist[cell] + 1
                queue.append(nxt)
    return dist


def convention_action_table(layout: MPPMRLayout, landmark: int, lane: int) -> np.ndarray:
    """For every cell, the action that walks lane ``lane`` of arm ``landmark`` to its landmark.

    Cells on other lanes of that arm are treated as walls, so the route is forced through the
    chosen lane; from a cell cut off by that (inside another lane) the agent takes the plain
    shortest path. At the landmark the agent stays.
    """
    target = int(np.flatnonzero(layout.landmark_of == landmark)[0])
    lane_id = landmark * layout.n_lanes + lane
    arm_lanes = (layout.lane_of >= landmark * layout.n_lanes) & (
        layout.lane_of < (landmark + 1) * layout.n_lanes
    )
    forced = shortest_distances(layout, target, arm_lanes & (layout.lane_of != lane_id))
    free = shortest_distances(layout, target, np.zeros(layout.num_cells, dtype=bool))
    dist = np.where(np.isinf(forced), free + layout.num_cells, forced)
    table = np.zeros(layout.num_cells, dtype=np.int64)
    for cell in range(layout.num_cells):
        if cell == target:
            continue  # stay
        candidates = [dist[layout.next_cell[cell, a]] for a in range(1, 5)]
        table[cell] = 1 + int(np.argmin(candidates))
    return table
