"""The world model behind the batched-env interface, so trainers run in imagination unchanged.

``ImaginedEnv`` has the API of :class:`~xpm_bench.envs.base.BatchedEnv`::

    env = ImaginedEnv(model, real_env, num_envs=1024, ledger=ledger, kind="xp", horizon=15)
    obs, info = env.reset(options={"start": starts})     # obs: [B, 2, feat_dim] features
    obs, reward, terminated, truncated, info = env.step(actions)   # actions: [B, 2] int64
    info["events"], info["continuation"]                  # [B, 2, E] expected, [B] probability

Each copy is one imagined world, rolled on the model's prior in the frame of seat 0. Seat 1
gets its own ego-centric features, as a member in seat 1 would compute them from real
observations: the imagined seat-0 observation (the decoder's mode) is turned into seat 1's
view (:meth:`~xpm_bench.wm.codecs.Codec.swap_seats`) and filtered by a second latent state.
Rewards are the predicted events times the real env's reward weights (any named set, vector
or ``[2, 2, E]`` tensor, changeable with :meth:`set_reward_weights`), so SP or XP, sparse or
shaped, all work. An episode ends when the continuation probability drops below 0.5
(``terminated``) or after ``horizon`` steps (``truncated``); the copy then restarts from a
start state drawn from the pool given to :meth:`reset`, with ``final_obs``,
``episode_return``, ``episode_length`` and ``episode_events`` in ``info`` as for real envs.

Every ``step`` counts ``num_envs`` imagined steps in the ledger under the copies' kinds
(:meth:`set_kind`), so a method never reports its own counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from xpm_bench.envs.base import BatchedEnv
from xpm_bench.errors import EnvArgumentError
from xpm_bench.rl.ledger import KINDS, Ledger
from xpm_bench.wm.model import WorldModel
from xpm_bench.wm.replay import Replay
from xpm_bench.wm.rssm import State

Tensor = torch.Tensor


@dataclass
class StartStates:
    """A pool of imagined-episode starts: the same real moments filtered from each seat.

    Attributes:
        seat0, seat1: states of ``[N, ...]`` tensors (model frame of that seat).
    """

    seat0: State
    seat1: State

    def __len__(self) -> int:
        return int(self.seat0["h"].shape[0])

    @classmethod
    @torch.no_grad()
    def from_replay(
        cls,
        model: WorldModel,
        replay: Replay,
        n: int,
        seq_len: int = 8,
        kinds: Sequence[str] | None = None,
        generator: torch.Generator | None = None,
    ) -> StartStates:
        """Posteriors at the last step of ``n`` replay windows, from both seats."""
        view0, view1 = replay.sample_both_seats(n, seq_len, kinds)
        last = []
        for view in (view0, view1):
            posts, _ = model.observe(view["obs"], view["action"], view["is_first"], None, generator)
            last.append({k: v[-1] for k, v in posts.items()})
        return cls(last[0], last[1])

    @classmethod
    @torch.no_grad()
    def from_observations(
        cls, model: WorldModel, obs: Tensor, generator: torch.Generator | None = None
    ) -> StartStates:
        """Starts at episode beginnings: ``obs [N, 2, *obs_shape]`` (e.g. a real
        ``env.reset()``) filtered as first observations from each seat."""
        n = obs.shape[0]
        first = torch.ones(1, n, dtype=torch.bool, device=obs.device)
        action = torch.zeros(1, n, 2, dtype=torch.int64, device=obs.device)
        seats = []
        for seat in (0, 1):
            posts, _ = model.observe(obs[:, seat].unsqueeze(0), action, first, None, generator)
            seats.append({k: v[0] for k, v in posts.items()})
        return cls(seats[0], seats[1])


class ImaginedEnv:
    """A batched env whose dynamics are a :class:`WorldModel` (see the module docstring)."""

    num_players = 2
    observation_dtype = torch.float32
    observation_bounds = None
    autoreset = True
    # the real env's reward-weight handling, one implementation for both
    reward_weight_tensor = BatchedEnv.reward_weight_tensor
    set_reward_weights = BatchedEnv.set_reward_weights
    rewards_from_events = BatchedEnv.rewards_from_events
    num_events = BatchedEnv.num_events

    def __init__(
        self,
        model: WorldModel,
        real_env: Any,
        num_envs: int,
        ledger: Ledger,
        kind: str | Sequence[str] = "sp",
        horizon: int = 15,
        reward_weights: Any = "sparse",
        seed: int = 0,
    ):
        if list(real_env.event_names) != model.event_names:
            raise EnvArgumentError("the world model was not built for this env's events")
        if horizon < 1:
            raise EnvArgumentError(f"horizon must be >= 1, got {horizon}")
        self.model = model.eval()
        self.num_envs, self.horizon = int(num_envs), int(horizon)
        self.device = next(model.parameters()).device
        self.env_id = f"imagined:{getattr(real_env, 'env_id', '')}"
        self.num_actions = model.num_actions
        self.action_names = list(real_env.action_names)
        self.event_names = list(model.event_names)
        self.reward_sets = dict(real_env.reward_sets)
        self.observation_shape = (model.feat_dim,)
        self.ledger = ledger
        self.generator = torch.Generator(device=self.device).manual_seed(int(seed))
        self.set_reward_weights(reward_weights)
        self.set_kind(kind)
        self.starts: StartStates | None = None
        self.t = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        self._episode_return = torch.zeros(self.num_envs, 2, device=self.device)
        self._episode_events = torch.zeros(self.num_envs, 2, self.num_events, device=self.device)

    # ---------------------------------------------------------------- kinds
    def set_kind(self, kind: str | Sequence[str] | Tensor) -> None:
        """The kind charged for each copy's imagined steps (one name, or one per copy)."""
        if isinstance(kind, str):
            kind = [kind] * self.num_envs
        idx = (
            kind.to("cpu", torch.int64)
            if isinstance(kind, Tensor)
            else torch.tensor([_kind_index(k) for k in kind], dtype=torch.int64)
        )
        if idx.shape != (self.num_envs,):
            raise EnvArgumentError(f"per-copy kinds must have length {self.num_envs}")
        counts = torch.bincount(idx, minlength=len(KINDS)).tolist()
        self._kind_counts = {KINDS[i]: c for i, c in enumerate(counts) if c}

    # ------------------------------------------------------------------ API
    @torch.no_grad()
    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[Tensor, dict]:
        """Start every copy from the pool ``options["start"]`` (a :class:`StartStates`;
        kept for later auto-resets, so later calls may omit it)."""
        if seed is not None:
            self.generator.manual_seed(int(seed))
        start = (options or {}).get("start", self.starts)
        if not isinstance(start, StartStates) or len(start) == 0:
            raise EnvArgumentError("ImaginedEnv.reset needs options={'start': StartStates}")
        self.starts = start
        self.s0 = self.model.initial(self.num_envs, self.device)
        self.s1 = self.model.initial(self.num_envs, self.device)
        self._restart(torch.ones(self.num_envs, dtype=torch.bool, device=self.device))
        return self._observe(), {}

    @torch.no_grad()
    def step(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, Tensor]]:
        actions = self._check_actions(actions)
        model = self.model
        self.s0 = model.rssm.img_step(self.s0, actions, self.generator)
        pred = model.predict(self.s0)
        seat1_obs = model.codec.swap_seats(model.codec.mode(model.decoder(model.features(self.s0))))
        no_reset = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        self.s1, _ = model.rssm.obs_step(
            self.s1, actions.flip(-1), model.embed(seat1_obs), no_reset, self.generator
        )
        for kind, n in self._kind_counts.items():
            self.ledger.count_imagined(n, kind)
        events, cont = pred["events"], pred["cont"]
        reward = self.rewards_from_events(events)
        self.t += 1
        terminated = cont < 0.5
        truncated = (self.t >= self.horizon) & ~terminated
        self._episode_return += reward
        self._episode_events += events
        obs = self._observe()
        info: dict[str, Tensor] = {"events": events, "continuation": cont}
        done = terminated | truncated
        if bool(done.any()):
            info["final_obs"] = obs
            info["episode_return"] = self._episode_return.clone()
            info["episode_length"] = self.t.clone()
            info["episode_events"] = self._episode_events.clone()
            self._restart(done)
            obs = self._observe()
        return obs, reward, terminated, truncated, info

    def get_state(self) -> dict[str, Tensor]:
        """A snapshot of every copy (latent states, step counters, episode sums)."""
        state = {f"s0.{k}": v.clone() for k, v in self.s0.items()}
        state.update({f"s1.{k}": v.clone() for k, v in self.s1.items()})
        state.update(t=self.t.clone(), episode_return=self._episode_return.clone(),
                     episode_events=self._episode_events.clone())  # fmt: skip
        return state

    def set_state(self, state: dict[str, Tensor]) -> None:
        keys = ("h", "z", "logits", "a")
        self.s0 = {k: state[f"s0.{k}"].clone() for k in keys}
        self.s1 = {k: state[f"s1.{k}"].clone() for k in keys}
        self.t = state["t"].clone()
        self._episode_return = state["episode_return"].clone()
        self._episode_events = state["episode_events"].clone()

    def close(self) -> None:
        """Nothing to release."""

    # -------------------------------------------------------------- helpers
    def _observe(self) -> Tensor:
        return torch.stack([self.model.features(self.s0), self.model.features(self.s1)], 1)

    def _restart(self, rows: Tensor) -> None:
        assert self.starts is not None
        n = int(rows.sum())
        pick = torch.randint(len(self.starts), (n,), generator=self.generator, device=self.device)
        for mine, pool in ((self.s0, self.starts.seat0), (self.s1, self.starts.seat1)):
            for key in mine:
                mine[key] = mine[key].clone()
                mine[key][rows] = pool[key].to(self.device)[pick]
        self.t[rows] = 0
        self._episode_return[rows] = 0.0
        self._episode_events[rows] = 0.0

    def _check_actions(self, actions: Tensor) -> Tensor:
        actions = torch.as_tensor(actions, device=self.device)
        if tuple(actions.shape) != (self.num_envs, 2) or actions.dtype.is_floating_point:
            raise EnvArgumentError(
                f"actions must be integers of shape ({self.num_envs}, 2), got "
                f"{tuple(actions.shape)} {actions.dtype}"
            )
        actions = actions.long()
        if int(actions.min()) < 0 or int(actions.max()) >= self.num_actions:
            raise EnvArgumentError(f"actions must lie in [0, {self.num_actions - 1}]")
        return actions


def _kind_index(kind: str) -> int:
    if kind not in KINDS:
        raise EnvArgumentError(f"unknown step kind {kind!r}; accepted: {', '.join(KINDS)}")
    return KINDS.index(kind)
