"""MPPMR compiled with numba: the torch engine's rules (:mod:`.mppmr`), one loop over copies.

Same layout tables (``next_cell``, ``lane_of``, ``landmark_of``), same event order, same
float32 arithmetic, so every output is bit-identical to the torch engine's. Rewards are summed
here only for weights whose sums are exact in any order (see
:func:`xpm_bench.envs.backends.sums_exact_in_any_order`); otherwise the env computes them with
the torch engine's own matmul after the kernel.
"""

from __future__ import annotations

import numpy as np

from xpm_bench.envs.backends import kernel

NUM_ACTIONS = 6
QUIT = 5


@kernel
def actions_in_range(actions):
    """Whether every action lies in ``[0, 6)`` (checked before anything changes)."""
    for b in range(actions.shape[0]):
        for p in range(2):
            if actions[b, p] < 0 or actions[b, p] >= NUM_ACTIONS:
                return False
    return True


@kernel
def step(
    actions,
    pos,
    t,
    episode_return,
    episode_events,
    next_cell,
    lane_of,
    landmark_of,
    n_lane_events,
    weights,
    sum_rewards,
    horizon,
    obs,
    events,
    reward,
    terminated,
    truncated,
):
    """One step of every copy: moves, events, termination, rewards (if ``sum_rewards``),
    episode sums and the observation. Returns the number of finished copies (-1, and nothing
    changed, if an action is out of range). Auto-reset is :func:`reset_rows`."""
    if not actions_in_range(actions):
        return -1
    n_events = events.shape[2]
    rendezvous = n_events - 2
    n_done = 0
    for b in range(actions.shape[0]):
        prev0, prev1 = pos[b, 0], pos[b, 1]
        new0, new1 = next_cell[prev0, actions[b, 0]], next_cell[prev1, actions[b, 1]]
        any_quit = actions[b, 0] == QUIT or actions[b, 1] == QUIT
        met = new0 == new1 and landmark_of[new0] >= 0 and not any_quit
        events[b] = 0.0
        for p in range(2):
            prev, new = (prev0, new0) if p == 0 else (prev1, new1)
            lane = lane_of[new]
            if lane >= 0 and lane != lane_of[prev]:
                events[b, p, lane] = 1.0
            landmark = landmark_of[new]
            if landmark >= 0 and landmark != landmark_of[prev]:
                events[b, p, n_lane_events + landmark] = 1.0
            if met:
                events[b, p, rendezvous] = 1.0
            if actions[b, p] == QUIT:
                events[b, p, n_events - 1] = 1.0
        pos[b, 0], pos[b, 1] = new0, new1
        terminated[b] = met or any_quit
        if sum_rewards:
            for i in range(2):
                total = np.float32(0.0)
                for p in range(2):
                    for e in range(n_events):
                        if events[b, p, e] != 0.0:
                            total += weights[i, p, e]
                reward[b, i] = total
                episode_return[b, i] += total
        episode_events[b] += events[b]
        t[b] += 1
        truncated[b] = t[b] >= horizon and not terminated[b]
        n_done += terminated[b] or truncated[b]
        _encode(b, obs, pos, t, horizon)
    return n_done


@kernel
def _encode(b, obs, pos, t, horizon):
    """Copy ``b``'s observation of both seats: own cell, partner cell (one-hot), ``t / horizon``."""
    n_cells = (obs.shape[2] - 1) // 2
    for seat in range(2):
        obs[b, seat] = 0.0
        obs[b, seat, pos[b, seat]] = 1.0
        obs[b, seat, n_cells + pos[b, 1 - seat]] = 1.0
        obs[b, seat, 2 * n_cells] = np.float32(t[b]) / np.float32(horizon)


@kernel
def observe(obs, pos, t, horizon):
    """Write every copy's observation (both seats) into ``obs``."""
    for b in range(pos.shape[0]):
        _encode(b, obs, pos, t, horizon)


@kernel
def reset_rows(done, pos, t, episode_return, episode_events, start, horizon, obs):
    """Auto-reset: the copies where ``done`` back to the start cells, their episode counters
    zeroed and their observations rewritten."""
    for b in range(done.shape[0]):
        if done[b]:
            pos[b] = start
            t[b] = 0
            episode_return[b] = 0.0
            episode_events[b] = 0.0
            _encode(b, obs, pos, t, horizon)
