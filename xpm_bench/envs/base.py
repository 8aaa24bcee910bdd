"""The batched two-player environment interface every registered env implements.

One object steps ``num_envs`` copies at once with torch ops and no Python loop over copies::

    obs, info = env.reset(seed=0)                      # obs: Tensor[B, 2, *observation_shape]
    obs, reward, terminated, truncated, info = env.step(actions)   # actions: Tensor[B, 2] int64
    info["events"]                                     # Tensor[B, 2, E] per-player event counts

Rewards are always ``events`` times a weight tensor (:meth:`BatchedEnv.set_reward_weights`),
so a world model can predict events and recover any reward, and shaping is a named weight
set rather than something mixed in silently.

Auto-reset: a copy that terminates or truncates is reset inside the same ``step`` call. The
returned ``obs`` row is then the first observation of its next episode, and on any step where
at least one copy finished, ``info`` also holds (rows valid only where finished):

- ``"final_obs"``: ``Tensor[B, 2, *obs_shape]``, the observation the episode ended on;
- ``"episode_return"``: ``Tensor[B, 2]``, the undiscounted return of each seat;
- ``"episode_length"``: ``Tensor[B]`` (int64), steps taken in the episode;
- ``"episode_events"``: ``Tensor[B, 2, E]``, event counts summed over the episode.

On steps where no copy finished these keys are absent.

Backends (``backend=``, see :mod:`xpm_bench.envs.backends`): ``"torch"`` runs the batched
torch ops below; ``"numba"`` runs a subclass's compiled kernels on numpy arrays that share
memory with the state tensors, with the same results bit for bit. This class holds the glue
both share: action checks, episode bookkeeping, ``info`` and auto-reset.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from xpm_bench.envs.backends import resolve_backend
from xpm_bench.errors import ActionError, EnvArgumentError

NUM_PLAYERS = 2
Tensor = torch.Tensor


class BatchedEnv(ABC):
    """Base class: episode bookkeeping, rewards from events, auto-reset, action checks.

    Subclasses set ``observation_shape``, ``observation_dtype``, ``num_actions``,
    ``action_names``, ``event_names``, ``reward_sets`` and ``horizon``, list their state
    tensors in ``state_keys``, and implement :meth:`_reset_where`, :meth:`_transition`,
    :meth:`_observe` and :meth:`render_ansi`/:meth:`render_rgb`. A subclass with compiled
    kernels sets ``numba_kernels = True``, implements :meth:`_kernel_step` and
    :meth:`_kernel_reset`, and runs its kernel encoder in :meth:`_observe`.
    """

    num_players: int = NUM_PLAYERS
    observation_shape: tuple[int, ...]
    observation_dtype: torch.dtype = torch.float32
    observation_bounds: tuple[float, float] | None = None  # (low, high) of every entry, if known
    num_actions: int
    action_names: Sequence[str]
    event_names: Sequence[str]
    reward_sets: dict[str, Sequence[float]]
    horizon: int
    state_keys: tuple[str, ...] = ()
    render_modes: tuple[str, ...] = ("ansi", "rgb_array")
    validate_actions: bool = True
    # False: finished copies stay in their final state until reset() (rendering, debugging)
    autoreset: bool = True
    # compiled kernels exist for this env (backend "numba"); "auto" uses them on CPU up to
    # numba_up_to copies (None: any batch), the crossover measured by the benchmarks
    numba_kernels: bool = False
    numba_up_to: int | None = None

    # set by registry.make
    env_id: str = ""
    spec: Any = None
    env_kwargs: dict[str, Any] = {}

    def __init__(
        self,
        num_envs: int,
        device: str | torch.device,
        horizon: int,
        reward_weights: Any,
        backend: str = "torch",
    ):
        if horizon < 1:
            raise EnvArgumentError(f"horizon must be >= 1, got {horizon}")
        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self.horizon = int(horizon)
        self.backend = resolve_backend(
            backend, self.device, self.num_envs, self.numba_kernels, self.numba_up_to
        )
        self.t = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        self._episode_return = torch.zeros(self.num_envs, NUM_PLAYERS, device=self.device)
        self._episode_events = torch.zeros(
            self.num_envs, NUM_PLAYERS, len(self.event_names), device=self.device
        )
        self.seed: int | None = None
        self.np_random = np.random.default_rng()
        self.set_reward_weights(reward_weights)

    # ----------------------------------------------------------------- rewards
    @property
    def num_events(self) -> int:
        return len(self.event_names)

    def reward_weight_tensor(self, weights: Any) -> Tensor:
        """Normalise ``weights`` to the general ``[2 receivers, 2 actors, E]`` form.

        Accepted: a name from ``reward_sets``; a length-E vector (team reward: both seats get
        the weighted events of both players); a ``[2, 2, E]`` tensor where entry ``[i, p, e]``
        is what seat ``i`` receives for one event ``e`` of player ``p``.
        """
        if isinstance(weights, str):
            if weights not in self.reward_sets:
                raise EnvArgumentError(
                    f"unknown reward weight set {weights!r}; accepted: {', '.join(self.reward_sets)}"
                )
            weights = self.reward_sets[weights]
        w = torch.as_tensor(weights, dtype=torch.float32, device=self.device)
        n_events = self.num_events
        if w.shape == (n_events,):
            return w.expand(NUM_PLAYERS, NUM_PLAYERS, n_events).clone()
        if w.shape == (NUM_PLAYERS, NUM_PLAYERS, n_events):
            return w.clone()
        raise EnvArgumentError(
            f"reward weights must have shape ({n_events},) or (2, 2, {n_events}), got {tuple(w.shape)}"
        )

    def set_reward_weights(self, weights: Any) -> None:
        """Set the weights turning events into rewards (a name, a vector or a [2, 2, E] tensor)."""
        self.reward_weights = self.reward_weight_tensor(weights)
        self._reward_matrix = self.reward_weights.reshape(NUM_PLAYERS, -1).T.contiguous()

    def rewards_from_events(self, events: Tensor) -> Tensor:
        """``Tensor[B, 2, E]`` events -> ``Tensor[B, 2]`` rewards under the current weights."""
        # one matmul: [B, 2*E] @ [2*E, 2] (einsum here was ~50x slower on small batches)
        return events.reshape(events.shape[0], -1) @ self._reward_matrix

    # ------------------------------------------------------------------- API
    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[Tensor, dict]:
        """Reset every copy; returns ``(obs, info)`` with ``obs: Tensor[B, 2, *obs_shape]``."""
        if seed is not None:
            self.seed = int(seed)
            self.np_random = np.random.default_rng(self.seed)
        all_rows = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        self._reset_where(all_rows)
        self.t.zero_()
        self._episode_return.zero_()
        self._episode_events.zero_()
        return self._observe(), {}

    def step(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, Tensor]]:
        """Advance every copy one step; see the module docstring for auto-reset."""
        if self.backend == "numba":
            return self._step_kernels(actions)
        actions = self._check_actions(actions)
        events, terminated = self._transition(actions)
        self.t += 1
        truncated = (self.t >= self.horizon) & ~terminated
        reward = self.rewards_from_events(events)
        self._episode_return += reward
        self._episode_events += events
        obs = self._observe()
        info: dict[str, Tensor] = {"events": events}
        done = terminated | truncated
        if bool(done.any()):
            obs = self._auto_reset(done, obs, info)
        return obs, reward, terminated, truncated, info

    def _auto_reset(self, done: Tensor, obs: Tensor, info: dict[str, Tensor]) -> Tensor:
        info["final_obs"] = obs
        info["episode_return"] = self._episode_return.clone()
        info["episode_length"] = self.t.clone()
        info["episode_events"] = self._episode_events.clone()
        if not self.autoreset:
            return obs
        self._reset_where(done)
        self.t[done] = 0
        self._episode_return[done] = 0.0
        self._episode_events[done] = 0.0
        return self._observe()

    def get_state(self) -> dict[str, Tensor]:
        """A snapshot of every copy (cloned tensors), restorable with :meth:`set_state`."""
        state = {key: getattr(self, key).clone() for key in self.state_keys}
        state["t"] = self.t.clone()
        state["episode_return"] = self._episode_return.clone()
        state["episode_events"] = self._episode_events.clone()
        return state

    def set_state(self, state: dict[str, Tensor]) -> None:
        """Restore a snapshot from :meth:`get_state` (same ``num_envs``)."""
        expected = set(self.state_keys) | {"t"}
        missing = expected - set(state)
        if missing:
            raise EnvArgumentError(f"state is missing {', '.join(sorted(missing))}")
        for key in self.state_keys:
            current = getattr(self, key)
            value = torch.as_tensor(state[key], device=self.device)
            if value.shape != current.shape:
                raise EnvArgumentError(
                    f"state[{key!r}] has shape {tuple(value.shape)}, expected {tuple(current.shape)}"
                )
            current.copy_(value)
        self.t.copy_(torch.as_tensor(state["t"], device=self.device))
        self._episode_return.copy_(
            state.get("episode_return", torch.zeros_like(self._episode_return))
        )
        self._episode_events.copy_(
            state.get("episode_events", torch.zeros_like(self._episode_events))
        )

    def observe(self) -> Tensor:
        """The current observation of every copy, ``Tensor[B, 2, *obs_shape]`` (a copy): after
        :meth:`set_state`, the restored state's (XP-state starts need it)."""
        return self._observe().clone()

    def render(self, mode: str = "ansi", index: int = 0) -> str | np.ndarray:
        """Draw copy ``index``: ``"ansi"`` gives a string, ``"rgb_array"`` an ``[H, W, 3]`` uint8 array."""
        if mode == "ansi":
            return self.render_ansi(index)
        if mode == "rgb_array":
            return self.render_rgb(index)
        raise EnvArgumentError(
            f"unknown render mode {mode!r}; accepted: {', '.join(self.render_modes)}"
        )

    def close(self) -> None:
        """Nothing to release; present for API symmetry with Gymnasium."""

    # ---------------------------------------------------------- numba backend
    def _step_kernels(self, actions: Any) -> tuple[Tensor, Tensor, Tensor, Tensor, dict]:
        """:meth:`step` on the compiled backend: one kernel call, then the ``info`` of
        finished copies and their auto-reset (a second call, on steps where some finished)."""
        acts = self._actions_array(actions)
        outputs = self._kernel_outputs()
        obs, obs_array, events, _ = outputs
        b = self.num_envs
        reward = np.empty((b, NUM_PLAYERS), dtype=np.float32)
        terminated = np.zeros(b, dtype=np.bool_)
        truncated = np.empty(b, dtype=np.bool_)
        n_done = self._kernel_step(acts, outputs, reward, terminated, truncated)
        if n_done < 0:
            raise self._action_range_error(int(acts.min()), int(acts.max()))
        info: dict[str, Tensor] = {"events": events}
        if n_done:
            info["final_obs"] = obs.clone()
            info["episode_return"] = self._episode_return.clone()
            info["episode_length"] = self.t.clone()
            info["episode_events"] = self._episode_events.clone()
            if self.autoreset:
                self._kernel_reset(terminated | truncated, obs_array)
        return (
            obs,
            torch.from_numpy(reward),
            torch.from_numpy(terminated),
            torch.from_numpy(truncated),
            info,
        )

    def _actions_array(self, actions: Any) -> np.ndarray:
        """Actions as a C-contiguous ``int64 [B, 2]`` numpy array (a view when possible).
        Their range is checked by the kernel before anything changes."""
        array = actions.numpy() if type(actions) is torch.Tensor and actions.is_cpu else actions
        if (
            type(array) is np.ndarray
            and array.dtype == np.int64
            and array.shape == (self.num_envs, NUM_PLAYERS)
            and array.flags.c_contiguous
        ):
            return array
        checked = self._check_actions(actions, check_range=False)
        return np.ascontiguousarray(checked.cpu().numpy())

    def _load_kernels(self) -> None:
        """Load (or compile) every kernel now, so that no step pays for it: a step with an
        out-of-range action returns before changing anything, a reset of no copy does
        nothing."""
        outputs = self._kernel_outputs()
        b = self.num_envs
        reward, flags = np.empty((b, NUM_PLAYERS), np.float32), np.zeros((2, b), np.bool_)
        rejected = np.full((b, NUM_PLAYERS), -1, dtype=np.int64)
        assert self._kernel_step(rejected, outputs, reward, flags[0], flags[1]) == -1
        self._kernel_reset(flags[0], outputs[1])
        self._observe()

    def _kernel_outputs(self) -> tuple[Tensor, np.ndarray, Tensor, np.ndarray]:
        """Fresh ``(obs, obs array, events, events array)`` for one step (tensors and the
        numpy arrays they share memory with); subclasses may hand out reused buffers."""
        b = self.num_envs
        obs = np.empty(self._obs_batch_shape, dtype=self._obs_numpy_dtype)
        events = np.empty((b, NUM_PLAYERS, self.num_events), dtype=np.float32)
        return torch.from_numpy(obs), obs, torch.from_numpy(events), events

    def _bind_kernel_arrays(self) -> dict[str, np.ndarray]:
        """Numpy views of the state tensors, ``t`` and the episode sums, for the kernels; also
        records the shape and dtype of fresh observation arrays. On this backend the tensors
        only ever change in place, so the views stay valid."""
        self._obs_batch_shape = (self.num_envs, NUM_PLAYERS, *self.observation_shape)
        self._obs_numpy_dtype = torch.empty(0, dtype=self.observation_dtype).numpy().dtype
        keys = (*self.state_keys, "t", "_episode_return", "_episode_events")
        return {key.lstrip("_"): getattr(self, key).numpy() for key in keys}

    def _kernel_step(
        self,
        actions: np.ndarray,
        outputs: tuple[Tensor, np.ndarray, Tensor, np.ndarray],
        reward: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> int:
        """Run the compiled step: fill the arrays of ``outputs`` (from :meth:`_kernel_outputs`),
        ``reward``, ``terminated`` and ``truncated``; update the state, ``t`` and the episode
        sums (no auto-reset). Return the number of finished copies, or -1 (and change
        nothing) if an action is out of range."""
        raise NotImplementedError

    def _kernel_reset(self, done: np.ndarray, obs: np.ndarray) -> None:
        """Auto-reset the copies where ``done``: start state, ``t`` and episode sums zeroed,
        their rows of ``obs`` rewritten."""
        raise NotImplementedError

    # ------------------------------------------------------------- checks
    def _check_actions(self, actions: Any, check_range: bool = True) -> Tensor:
        if not isinstance(actions, torch.Tensor):
            actions = torch.as_tensor(np.asarray(actions))
        expected = (self.num_envs, NUM_PLAYERS)
        if tuple(actions.shape) != expected:
            raise ActionError(f"actions must have shape {expected}, got {tuple(actions.shape)}")
        if actions.dtype.is_floating_point or actions.dtype == torch.bool or actions.is_complex():
            raise ActionError(f"actions must be integers, got dtype {actions.dtype}")
        actions = actions.to(device=self.device, dtype=torch.int64)
        if self.validate_actions and check_range:
            lo, hi = torch.aminmax(actions)
            if int(lo) < 0 or int(hi) >= self.num_actions:
                raise self._action_range_error(int(lo), int(hi))
        return actions

    def _action_range_error(self, lo: int, hi: int) -> ActionError:
        return ActionError(
            f"actions must lie in [0, {self.num_actions - 1}] "
            f"({', '.join(self.action_names)}), got values in [{lo}, {hi}]"
        )

    # ------------------------------------------------------ subclass hooks
    @abstractmethod
    def _reset_where(self, mask: Tensor) -> None:
        """Put the copies selected by ``mask: Tensor[B] bool`` in their start state."""

    @abstractmethod
    def _transition(self, actions: Tensor) -> tuple[Tensor, Tensor]:
        """Apply ``actions``; return ``(events: Tensor[B, 2, E] float32, terminated: Tensor[B] bool)``."""

    @abstractmethod
    def _observe(self) -> Tensor:
        """A fresh ``Tensor[B, 2, *observation_shape]``, each seat's view ego-first."""

    @abstractmethod
    def render_ansi(self, index: int = 0) -> str: ...

    @abstractmethod
    def render_rgb(self, index: int = 0) -> np.ndarray: ...
