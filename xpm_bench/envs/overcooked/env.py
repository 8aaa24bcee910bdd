"""Batched Overcooked: the overcooked-ai 1.1.0 rules (and the 2019 rule) in torch.

``Overcooked-<Layout>-v0`` (:class:`OvercookedEnv`) follows ``overcooked_ai_py`` 1.1.0: cooking
starts when an empty-handed player interacts with a pot holding ingredients; recipes, cook
times, orders and values come from the layout. ``OvercookedClassic-<Layout>-v0``
(:class:`OvercookedClassicEnv`) follows the 2019 rule of the human data and most zero-shot
coordination work: a pot starts cooking by itself when it holds three ingredients, interacting
empty-handed with a pot does nothing, and a soup's cook tick keeps counting past the cook time
until the soup is picked up. Everything else is shared.

- Actions: ``overcooked_ai_py.mdp.actions.Action.ALL_ACTIONS`` order: north, south, east, west,
  stay, interact. ``reset()`` starts from the layout's standard start state.
- Observation: the 26-channel lossless encoding, channels first, ``uint8 [B, 2, 26, W, H]``;
  ``obs[b, p]`` equals ``np.transpose(mdp.lossless_state_encoding(state)[p], (2, 0, 1))``
  (see :mod:`.encoding`; urgency uses this env's horizon, 400 by default).
- Events ``[B, 2, E]``: the 25 reference ``EVENT_TYPES`` in order, then extras (see
  :mod:`.events`); rewards are ``events @ weights``: ``"sparse"`` (default, the reference's
  team delivery reward to both seats), ``"shaped"`` (the reference shaping alone),
  ``"sparse_shaped"``, or your own vector / ``[2, 2, E]`` tensor.
- Output buffers: with ``copy_obs=False`` the observation and event tensors come from two
  alternating preallocated buffers, so a step's ``obs`` stays valid until the step after next
  (copy it if you keep it longer); ``copy_obs=True`` returns fresh tensors. The default
  (``None``) reuses buffers when ``num_envs >= 32`` and copies for smaller batches (the
  PettingZoo/Gymnasium views use one copy). ``info["final_obs"]`` is always a copy.
- State: ``get_state()``/``set_state()`` over ``pos, ori, held, held_timer, code, timer`` (see
  :mod:`.dynamics`); :func:`xpm_bench.envs.reference.from_reference` /
  :func:`~xpm_bench.envs.reference.to_reference` convert to and from ``overcooked_ai_py``.
- Backends (``backend=``): ``"torch"`` (batched torch ops, CPU or CUDA), ``"numba"`` (the
  same tables applied copy by copy in compiled code, :mod:`.kernels`; CPU only), ``"auto"``
  (default: numba on CPU up to ``numba_up_to`` copies, see :mod:`xpm_bench.envs.backends`).
  Results are bit-identical.

Layouts: every layout shipped with overcooked-ai 1.1.0 runs, tomatoes and multi-recipe orders
included, except ``cramped_room_single`` (one player) and ``multiplayer_schelling`` (four
players): this engine is two-player. Two documented quirks: ``tutorial_3`` has an infinite
order bonus, so delivering its bonus recipe gives an infinite reward, exactly like the
reference (rewards are computed so that ``0 * inf`` events count as 0); the reference compares
soups' ingredient lists in insertion order while we store counts, so state equality is
checked on ingredient multisets (the order is never observable).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from xpm_bench.envs.base import NUM_PLAYERS, BatchedEnv, Tensor
from xpm_bench.envs.overcooked import dynamics, encoding, render
from xpm_bench.envs.overcooked import events as ev
from xpm_bench.envs.overcooked.layout import ACTION_NAMES, DISH, NUM_CODES, Layout, load_layout
from xpm_bench.errors import EnvArgumentError

REUSE_BUFFERS_FROM = 32
# dtypes of get_state() snapshots (the engine itself runs on int64)
STATE_DTYPES = {
    "held": torch.uint8,
    "held_timer": torch.int16,
    "code": torch.uint8,
    "timer": torch.int16,
}


class OvercookedEnv(BatchedEnv):
    """Batched Overcooked under the overcooked-ai 1.1.0 rule; see the module docstring."""

    classic = False
    rule_name = "overcooked-ai 1.1.0 (cooking starts on an empty-handed interact)"
    num_actions = len(ACTION_NAMES)
    action_names = ACTION_NAMES
    observation_dtype = torch.uint8
    state_keys = ("pos", "ori", "held", "held_timer", "code", "timer")
    numba_kernels = True
    # auto: numba up to here. One thread: numba 2.3x torch at 1024 copies, 1.1-1.2x at 4096
    # and 8192; torch's second thread is expected to win from 4096 (measured under a 1-minute
    # load of 15 on 2 cores: rerun benchmarks/single_copy_speed.py on a quiet machine)
    numba_up_to = 2048

    def __init__(
        self,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        layout: str | Layout = "cramped_room",
        horizon: int = 400,
        reward_weights: str | list[float] | Tensor = "sparse",
        copy_obs: bool | None = None,
        backend: str = "auto",
    ):
        if isinstance(layout, Layout):
            self.layout = layout
        elif isinstance(layout, str):
            self.layout = load_layout(layout)
        else:
            raise EnvArgumentError(f"layout must be a layout name or a Layout, got {layout!r}")
        if self.layout.max_cook_time > 255:
            raise EnvArgumentError(f"layout {layout!r}: cook times above 255 do not fit uint8")
        self.event_names = ev.event_names(self.layout)
        self.reward_sets = ev.reward_sets(self.layout)
        self.observation_shape = (encoding.NUM_CHANNELS, self.layout.width, self.layout.height)
        self.observation_bounds = (0, max(3, self.layout.max_cook_time))
        super().__init__(num_envs, device, horizon, reward_weights, backend)
        self.tables = dynamics.Tables.build(self.layout, self.classic, self.device)
        self._build_reward_table()
        self.reuse_buffers = num_envs >= REUSE_BUFFERS_FROM if copy_obs is None else not copy_obs
        self._init_state()
        self._buffer_index = 0
        if self.backend == "numba":
            self._init_kernels()
            return
        # index of each copy's first cell in the flattened grid
        self._row_starts = (
            torch.arange(num_envs, device=self.device).view(-1, 1) * self.layout.num_cells
        )
        self.encoder = encoding.Encoder(self.layout, num_envs, self.device)
        self._obs_buffers = [self.encoder.new_buffer(num_envs)]
        if self.reuse_buffers:
            self._obs_buffers.append(self.encoder.new_buffer(num_envs))
            shape = (num_envs, NUM_PLAYERS, self.num_events)
            self._event_buffers = [torch.empty(shape, device=self.device) for _ in range(2)]

    # ------------------------------------------------------------------ state
    def _init_state(self) -> None:
        from xpm_bench.envs.reference import from_reference

        start = from_reference(self.layout.start_state, self)
        self._start = {key: start[key][0].long() for key in self.state_keys}
        b = self.num_envs
        for key, value in self._start.items():
            setattr(self, key, value.unsqueeze(0).repeat(b, *[1] * value.dim()))
        self._count_counter_dishes()
        self._start_t = int(start["t"][0])

    def _reset_where(self, mask: Tensor) -> None:
        if bool(mask.all()):
            for key, value in self._start.items():
                getattr(self, key).copy_(value.expand_as(getattr(self, key)))
        else:
            for key, value in self._start.items():
                getattr(self, key)[mask] = value
        self._count_counter_dishes()

    def _count_counter_dishes(self) -> None:
        # a cache of the dishes lying on counters (the only cells that hold dishes)
        self._counter_dishes = (self.code == DISH).sum(1)

    def set_state(self, state: dict[str, Tensor]) -> None:
        """Restore a snapshot from :meth:`get_state` or rows from ``from_reference``."""
        self._check_state_ranges(state)
        super().set_state(state)
        self._count_counter_dishes()

    def _check_state_ranges(self, state: dict[str, Any]) -> None:
        """Reject cells, orientations and object codes outside the layout's tables before
        anything is written (the compiled backend would read outside its tables)."""
        limits = {"pos": self.layout.num_cells, "ori": 4, "held": NUM_CODES, "code": NUM_CODES}
        for key, limit in limits.items():
            value = state.get(key)
            if value is None or torch.as_tensor(value).numel() == 0:
                continue
            lo, hi = torch.aminmax(torch.as_tensor(value).long())
            if int(lo) < 0 or int(hi) >= limit:
                raise EnvArgumentError(
                    f"state[{key!r}] holds values in [{int(lo)}, {int(hi)}]; accepted: 0 to {limit - 1}"
                )

    def get_state(self) -> dict[str, Any]:
        """A snapshot (see :class:`BatchedEnv`), plus the layout name and rule for adapters.
        The engine keeps its state in int64; snapshots use the compact dtypes of
        :func:`~xpm_bench.envs.reference.from_reference`."""
        state = super().get_state()
        for key, dtype in STATE_DTYPES.items():
            state[key] = state[key].to(dtype)
        shipped = self.layout.source[0] == "shipped"
        state["layout"] = self.layout.name if shipped else self.layout
        state["classic"] = self.classic
        return state

    # -------------------------------------------------------------- dynamics
    def _transition(self, actions: Tensor) -> tuple[Tensor, Tensor]:
        self._buffer_index ^= int(self.reuse_buffers)
        tables, classic = self.tables, self.classic
        target, interact_base, new_pos, new_ori = dynamics.pose_lookups(
            self.pos, self.ori, actions, tables
        )
        pots = dynamics.pot_key(self.code, tables)
        counter_dishes = self._counter_dishes
        # each player's part: faced cells in the flattened grid, [B] views of the state
        flat_target = torch.add(target, self._row_starts).t().contiguous()
        split = [interact_base.t().contiguous(), flat_target]
        held, held_timer = self.held.unbind(1), self.held_timer.unbind(1)
        outcomes = []
        for p in range(NUM_PLAYERS):  # player 0 first: player 1 sees its changes
            outcome, counter_dishes = dynamics.interact(
                split[0][p],
                split[1][p],
                held[p],
                held_timer[p],
                held[1 - p],
                self.code,
                self.timer,
                counter_dishes,
                pots,
                tables,
            )
            outcomes.append(outcome)
        self._counter_dishes = counter_dishes
        self.pos, self.ori = new_pos, new_ori
        dynamics.cook(self.code, self.timer, tables, classic)
        rows = torch.stack(outcomes, 1)
        self._last_rows = rows
        rows = rows.view(-1)
        if self.reuse_buffers:
            events = self._event_buffers[self._buffer_index]
            torch.index_select(tables.outcome_events, 0, rows, out=events.view(-1, self.num_events))
        else:
            events = tables.outcome_events.index_select(0, rows).view(self.num_envs, 2, -1)
        self._last_events = events
        # Overcooked episodes only end at the horizon
        return events, torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    def rewards_from_events(self, events: Tensor) -> Tensor:
        """``events @ weights``. For the events of the latest step this is a lookup in a
        per-outcome reward table (events are 0/1 per outcome, so with integer-valued weights it
        equals the base class's einsum exactly). With non-finite weights (tutorial_3's infinite
        bonus) an event that did not happen contributes 0 rather than ``0 * inf = nan``."""
        if events is self._last_events and self._reward_table is not None:
            rows = self._last_rows
            return (
                self._reward_table[0]
                .index_select(0, rows[:, 0])
                .add_(self._reward_table[1].index_select(0, rows[:, 1]))
            )
        if not self._finite_weights:
            terms = events.unsqueeze(1) * self.reward_weights  # [B, i, p, E]
            return _zero_nan(terms).sum(dim=(2, 3))
        return super().rewards_from_events(events)

    def set_reward_weights(self, weights: Any) -> None:
        super().set_reward_weights(weights)
        self._finite_weights = bool(torch.isfinite(self.reward_weights).all())
        self._build_reward_table()

    def _build_reward_table(self) -> None:
        """``[2 actors, rows, 2 receivers]``: what each seat gets for each outcome row of
        player 0 and of player 1."""
        self._last_events, self._reward_table = None, None
        tables = getattr(self, "tables", None)
        if tables is None:
            return
        per_actor = []
        for p in range(NUM_PLAYERS):
            terms = tables.outcome_events.unsqueeze(1) * self.reward_weights[:, p]  # [R, i, E]
            per_actor.append(_zero_nan(terms).sum(-1))
        self._reward_table = torch.stack(per_actor).contiguous()
        if self.backend == "numba":
            self._reward_array = self._reward_table.numpy()

    # ---------------------------------------------------------- numba backend
    def _init_kernels(self) -> None:
        from xpm_bench.envs.overcooked import kernels

        self._kernels = kernels
        self._kernel_tables = kernels.KernelTables.from_tables(self.tables, self.layout)
        self._arrays = self._bind_kernel_arrays()
        self._start_arrays = {key: value.numpy() for key, value in self._start.items()}
        b = self.num_envs
        self._rows = torch.zeros(b, NUM_PLAYERS, dtype=torch.int64)
        self._rows_array = self._rows.numpy()
        self._kernel_buffers = []
        for _ in range(2 if self.reuse_buffers else 0):
            obs, obs_array, events, events_array = BatchedEnv._kernel_outputs(self)
            self._kernel_buffers.append((obs, obs_array, events, events_array))
        self._load_kernels()

    def _kernel_outputs(self) -> tuple[Tensor, np.ndarray, Tensor, np.ndarray]:
        if not self.reuse_buffers:
            return super()._kernel_outputs()
        self._buffer_index ^= 1
        return self._kernel_buffers[self._buffer_index]

    def _kernel_step(self, actions, outputs, reward, terminated, truncated) -> int:
        _, obs, events, events_array = outputs
        a, k = self._arrays, self._kernel_tables
        n_done = self._kernels.step(
            actions, a["pos"], a["ori"], a["held"], a["held_timer"], a["code"], a["timer"],
            a["t"], a["episode_return"], a["episode_events"], k.pose, k.move, k.pot_cells,
            k.pot_values, k.interaction, k.usefulness, k.cook, k.outcome_events,
            self._reward_array, k.static, self.horizon, self.classic, obs, events_array, reward,
            truncated, self._rows_array,
        )  # fmt: skip
        if n_done < 0:  # rejected actions: the buffers stay as they were, like the torch engine's
            self._buffer_index ^= int(self.reuse_buffers)
        else:  # rewards_from_events(info["events"]) then reads the same reward table
            self._last_events, self._last_rows = events, self._rows
        return n_done

    def _kernel_reset(self, done: np.ndarray, obs: np.ndarray) -> None:
        a, s = self._arrays, self._start_arrays
        self._kernels.reset_rows(
            done, a["pos"], a["ori"], a["held"], a["held_timer"], a["code"], a["timer"], a["t"],
            a["episode_return"], a["episode_events"], s["pos"], s["ori"], s["held"],
            s["held_timer"], s["code"], s["timer"], self._kernel_tables.static, self.horizon, obs,
        )  # fmt: skip

    def _observe_kernels(self) -> Tensor:
        if self.reuse_buffers:
            obs, obs_array = self._kernel_buffers[self._buffer_index][:2]
        else:
            obs, obs_array = super()._kernel_outputs()[:2]
        a = self._arrays
        self._kernels.observe(
            obs_array, a["pos"], a["ori"], a["held"], a["held_timer"], a["code"], a["timer"],
            self._kernel_tables.static, a["t"], self.horizon,
        )  # fmt: skip
        return obs

    # ----------------------------------------------------------- observation
    def _observe(self) -> Tensor:
        if self.backend == "numba":
            return self._observe_kernels()
        if self.reuse_buffers:
            out = self._obs_buffers[self._buffer_index]
        else:
            out = self.encoder.new_buffer(self.num_envs)
        urgent = (self.horizon - self.t) < encoding.URGENCY_STEPS
        self.encoder.write(
            out, self.pos, self.ori, self.held, self.held_timer, self.code, self.timer, urgent
        )
        return out.view(self.num_envs, NUM_PLAYERS, *self.observation_shape)

    def _auto_reset(self, done: Tensor, obs: Tensor, info: dict[str, Tensor]) -> Tensor:
        # the re-observation after the reset rewrites this step's buffer: keep a copy
        return super()._auto_reset(done, obs.clone() if self.reuse_buffers else obs, info)

    # ---------------------------------------------------------------- render
    def render_ansi(self, index: int = 0) -> str:
        return render.ansi(self, index)

    def render_rgb(self, index: int = 0) -> np.ndarray:
        return render.rgb(self, index)


class OvercookedClassicEnv(OvercookedEnv):
    """Batched Overcooked under the 2019 rule (pots start cooking by themselves at three
    ingredients); see the module docstring."""

    classic = True
    rule_name = "2019 (a full pot starts cooking by itself)"


def _zero_nan(terms: Tensor) -> Tensor:
    """``0 * inf`` terms (events that did not happen) become 0; real infinities stay infinite
    (``torch.nan_to_num`` alone would also clamp them to the largest float)."""
    return torch.where(torch.isnan(terms), torch.zeros_like(terms), terms)
