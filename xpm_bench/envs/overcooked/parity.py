"""Lock-step parity checks against the reference ``overcooked_ai_py`` MDP.

:func:`lockstep` runs ``B`` copies of the engine next to ``B`` reference states, feeds both the
same joint actions (uniformly random, or from :class:`ScriptedCook` agents that really cook and
deliver), and after every step compares, for every copy: the full state (via
:func:`~xpm_bench.envs.reference.to_reference`), both observations (the lossless encoding),
the sparse and shaped rewards of each player, and all 25 reference events.

Only the 1.1.0 rule has a reference here; the 2019 rule is checked against the human data
(:func:`xpm_bench.envs.reference.replay_human_data`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from xpm_bench.envs import reference as ref
from xpm_bench.envs.overcooked import _ref
from xpm_bench.envs.overcooked.events import REFERENCE_EVENTS
from xpm_bench.envs.overcooked.layout import DIRECTIONS

REFERENCE_ACTIONS = None  # filled lazily: overcooked_ai_py Action.ALL_ACTIONS


def reference_actions() -> list[Any]:
    """``Action.ALL_ACTIONS`` of the reference (north, south, east, west, stay, interact)."""
    global REFERENCE_ACTIONS
    if REFERENCE_ACTIONS is None:
        _ref.mdp_module()
        from overcooked_ai_py.mdp.actions import Action

        REFERENCE_ACTIONS = list(Action.ALL_ACTIONS)
    return REFERENCE_ACTIONS


class ScriptedCook:
    """A greedy cook for one seat of a reference state: fetch ingredients, fill pots, start
    them, fetch a dish when a soup is on its way, serve; counters as hand-off points when a
    target is out of reach. ``epsilon`` of its actions are uniformly random."""

    def __init__(self, mdp: Any, seat: int, rng: np.random.Generator, epsilon: float = 0.1):
        self.mdp, self.seat, self.rng, self.epsilon = mdp, seat, rng, epsilon
        self.floor = set(mdp.get_valid_player_positions())

    def act(self, state: Any) -> int:
        if self.rng.random() < self.epsilon:
            return int(self.rng.integers(6))
        me = state.players[self.seat]
        other = state.players[1 - self.seat].position
        targets = self._targets(state, me)
        step = self._route(me.position, targets, blocked={other})
        if step is None:
            return int(self.rng.integers(6))
        direction, interact_now = step
        if interact_now and me.orientation == direction:
            return 5
        return DIRECTIONS.index(direction)

    def _targets(self, state: Any, me: Any) -> list[tuple[int, int]]:
        mdp, held = self.mdp, me.held_object
        pots = mdp.get_pot_states(state)
        ready = pots.get("ready", [])
        cooking = pots.get("cooking", [])
        counters = {
            pos: obj.name
            for pos, obj in state.objects.items()
            if pos not in set(mdp.get_pot_locations())
        }
        empty_counters = [c for c in mdp.get_counter_locations() if c not in state.objects]
        if held is None:
            someone_has_dish = any(
                p.held_object is not None and p.held_object.name == "dish" for p in state.players
            )
            idle = [
                p
                for p in mdp.get_pot_locations()
                if p in state.objects and state.objects[p].is_idle
            ]
            full_idle = [p for p in idle if len(state.objects[p].ingredients) == 3]
            soups_on_counters = [c for c, n in counters.items() if n == "soup"]
            if soups_on_counters and self.rng.random() < 0.5:
                return soups_on_counters
            if full_idle or (idle and self.rng.random() < 0.1):
                return full_idle or idle  # start cooking
            if (ready or cooking) and not someone_has_dish:
                return mdp.get_dish_dispenser_locations() + [
                    c for c, n in counters.items() if n == "dish"
                ]
            sources = mdp.get_onion_dispenser_locations() + mdp.get_tomato_dispenser_locations()
            return sources + [c for c, n in counters.items() if n in ("onion", "tomato")]
        if held.name in ("onion", "tomato"):
            open_pots = [
                p
                for p in mdp.get_pot_locations()
                if p not in state.objects or not state.objects[p].is_full
            ]
            return open_pots or empty_counters
        if held.name == "dish":
            return ready or cooking or empty_counters
        return mdp.get_serving_locations()

    def _route(self, start, targets, blocked) -> tuple[tuple[int, int], bool] | None:
        """First direction along a shortest path to a cell next to a target, and whether the
        player already stands next to it (then the direction faces the target)."""
        goals = {}
        for t in targets:
            for d in DIRECTIONS:
                cell = (t[0] - d[0], t[1] - d[1])
                if cell in self.floor:
                    goals.setdefault(cell, d)
        if not goals:
            return None
        if start in goals:
            return goals[start], True
        parents = {start: None}
        queue = deque([start])
        while queue:
            cell = queue.popleft()
            if cell in goals:
                while parents[cell] != start:
                    cell = parents[cell]
                return (cell[0] - start[0], cell[1] - start[1]), False
            for d in DIRECTIONS:
                nxt = (cell[0] + d[0], cell[1] + d[1])
                if nxt in self.floor and nxt not in parents and nxt not in blocked:
                    parents[nxt] = cell
                    queue.append(nxt)
        return None


@dataclass
class ParityReport:
    """What :func:`lockstep` compared, and the first mismatches it saw."""

    layout: str
    steps: int = 0
    deliveries: int = 0
    soups_started: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def lockstep(
    env: Any,
    steps: int,
    policy: str = "random",
    seed: int = 0,
    start_states: list[Any] | None = None,
    max_mismatches: int = 5,
) -> ParityReport:
    """Step ``env`` (1.1.0 rule) and the reference side by side; see the module docstring.

    ``env`` may also be a list of envs with the same layout and batch size (one per backend,
    say): they all get the same actions and are compared against one reference run, whose
    cost dominates. ``policy``: ``"random"`` or ``"scripted"``. ``start_states``: reference
    states to start the copies from (default: the standard start state). Episodes that reach
    the env's horizon restart both sides from the standard start state.
    """
    envs = list(env) if isinstance(env, (list, tuple)) else [env]
    first = envs[0]
    if any(e.classic for e in envs):
        raise ValueError("lockstep compares against overcooked-ai 1.1.0; use the 1.1.0 rule env")
    layout, b = first.layout, first.num_envs
    mdp = layout.reference_mdp()
    actions_ref = reference_actions()
    rng = np.random.default_rng(seed)
    agents = [[ScriptedCook(mdp, s, rng) for s in range(2)] for _ in range(b)]
    report = ParityReport(layout.name)
    shaped_weights = torch.tensor(first.reward_sets["shaped"])
    labels = [f"{e.backend} engine: " if len(envs) > 1 else "" for e in envs]
    states = [s.deepcopy() for s in (start_states or [mdp.get_standard_start_state()] * b)]
    for e in envs:
        e.reset(seed=seed)
        if start_states is not None:
            e.set_state(ref.from_reference(states, e))
    _compare_obs(
        report, mdp, states, [e._observe().clone() for e in envs], labels, first.horizon, "start"
    )
    for step in range(steps):
        if policy == "random":
            joint = rng.integers(6, size=(b, 2))
        else:
            joint = np.array([[agents[i][s].act(states[i]) for s in range(2)] for i in range(b)])
        results = [_engine_step(e, joint) for e in envs]
        for i in range(b):
            nxt, infos = mdp.get_state_transition(states[i], [actions_ref[a] for a in joint[i]])
            where = f"step {step} copy {i} actions {joint[i].tolist()}"
            finished = []
            for label, r in zip(labels, results):
                _compare_step(
                    report, r["events"][i], r["reward"][i], shaped_weights, infos, label + where
                )
                if r["done"][i]:
                    finished.append((label, r["final_obs"][i : i + 1]))
                elif ref.canonical(r["states"][i]) != ref.canonical(nxt):
                    report.mismatches.append(
                        f"{label}{where}: state\n engine {ref.canonical(r['states'][i])}\n "
                        f"reference {ref.canonical(nxt)}"
                    )
            if finished:
                obs = [o for _, o in finished]
                _compare_obs(
                    report, mdp, [nxt], obs, [lb for lb, _ in finished], first.horizon, where
                )
                nxt = mdp.get_standard_start_state().deepcopy()
            report.deliveries += int(sum(infos["event_infos"]["soup_delivery"]))
            states[i] = nxt
        cooking = first.event_names.index("cooking_started")
        report.soups_started += int(results[0]["events"][..., cooking].sum())
        _compare_obs(
            report, mdp, states, [r["obs"] for r in results], labels, first.horizon, f"step {step}"
        )
        report.steps += 1
        if len(report.mismatches) >= max_mismatches:
            break
    return report


def _engine_step(env: Any, joint: np.ndarray) -> dict[str, Any]:
    """One engine step on CPU tensors, with the engine's state as reference states."""
    obs, reward, term, trunc, info = env.step(torch.as_tensor(joint))
    return {
        "obs": obs.cpu(),
        "reward": reward.cpu(),
        "events": info["events"].cpu(),
        "done": (term | trunc).cpu(),
        "final_obs": info["final_obs"].cpu() if "final_obs" in info else None,
        "states": ref.to_reference(env.get_state(), env),
    }


def _compare_step(report, events, reward, shaped_weights, infos, where) -> None:
    expected_events = np.array(
        [[infos["event_infos"][name][p] for name in REFERENCE_EVENTS] for p in range(2)],
        dtype=np.float32,
    )
    got = events[:, : len(REFERENCE_EVENTS)].numpy()
    if not np.array_equal(got, expected_events):
        diff = [
            (REFERENCE_EVENTS[k], p, got[p, k], expected_events[p, k])
            for p, k in zip(*np.nonzero(got != expected_events))
        ]
        report.mismatches.append(f"{where}: events (name, player, engine, reference) {diff}")
    sparse = float(sum(infos["sparse_reward_by_agent"]))
    if reward.tolist() != [sparse, sparse]:
        report.mismatches.append(f"{where}: sparse reward {reward.tolist()} vs {sparse}")
    shaped = (events * shaped_weights).sum(1).tolist()
    if shaped != [float(x) for x in infos["shaped_reward_by_agent"]]:
        report.mismatches.append(
            f"{where}: shaped reward by player {shaped} vs {infos['shaped_reward_by_agent']}"
        )


def _compare_obs(report, mdp, states, engine_obs, labels, horizon, where) -> None:
    """Compare each engine's observations ``engine_obs[k] [len(states), 2, ...]`` with the
    reference encoding of ``states`` (computed once for all engines)."""
    for i, state in enumerate(states):
        expected = mdp.lossless_state_encoding(state, horizon=horizon)
        for p in range(2):
            want = np.transpose(expected[p], (2, 0, 1))
            for label, obs in zip(labels, engine_obs):
                got = obs[i, p].numpy().astype(np.int64)
                if not np.array_equal(got, want):
                    channels = sorted({int(c) for c in np.nonzero(got != want)[0]})
                    report.mismatches.append(
                        f"{label}{where}: obs copy {i} seat {p} channels {channels}"
                    )
