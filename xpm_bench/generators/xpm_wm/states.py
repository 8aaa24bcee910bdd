"""XP-state expansion: keep states reached in cross-play, start self-play episodes from them.

The paper's guard against self-sabotage (REFERENCES.md section 1): pi_m's self-play also
starts from states that are reachable when pi_m plays a frozen pi_j. A pi_m that recognises a
non-self partner and quits would then also quit in its own self-play from those states, which
the SP term punishes.

- :class:`StateBank` is a ring buffer of per-copy state rows (a dict of tensors with one
  leading row axis). XPM-Sim stores real env states in it (``env.get_state()`` rows), XPM-WM
  latent model states; both sample start states from it.
- :class:`XPStartsEnv` wraps a batched env (normally the harness's metered env): after every
  step it banks the states of its cross-play copies, and when a self-play copy's episode ends
  it may start the next one from a banked state (``set_state`` on that row). The rollout
  engine driving it sees an ordinary auto-resetting env, so any engine works unchanged.

Cost accounting: restoring a state is not an env step, so it is not counted; every step taken
from a restored state is a real step of whatever kind its seating is (an SP copy's are ``sp``),
counted by the metered env underneath. Episodes started from a banked state keep the banked
``t`` (the time left is the time the XP episode had left) and start with zero return, so
``episode_return`` is the return from the banked state on and ``episode_length`` includes
the steps taken before it.
"""

from __future__ import annotations

from typing import Any

import torch

Tensor = torch.Tensor
# episode sums are zeroed on a restart rather than banked
_EPISODE_SUMS = ("episode_return", "episode_events")


class StateBank:
    """A ring buffer of at most ``capacity`` state rows, sampled uniformly.

    Rows are added in order; once full, the oldest are overwritten. Everything (rows, write
    position) is in :meth:`state_dict`, so a resumed run samples what the uninterrupted run
    would have.
    """

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.rows: dict[str, Tensor] = {}
        self.size = 0
        self.next = 0  # write position

    def __len__(self) -> int:
        return self.size

    def add(self, rows: dict[str, Tensor]) -> None:
        """Append ``rows`` (every tensor with the same leading length ``n``)."""
        n = _row_count(rows)
        if n == 0:
            return
        if not self.rows:
            self.rows = {
                k: torch.zeros((self.capacity, *v.shape[1:]), dtype=v.dtype, device=v.device)
                for k, v in rows.items()
            }
        if set(rows) != set(self.rows):
            raise ValueError(f"state rows have keys {sorted(rows)}, the bank {sorted(self.rows)}")
        if n > self.capacity:  # only the newest fit
            rows = {k: v[n - self.capacity :] for k, v in rows.items()}
            n = self.capacity
        slots = (self.next + torch.arange(n)) % self.capacity
        for key, value in rows.items():
            self.rows[key][slots.to(self.rows[key].device)] = value.to(self.rows[key].device)
        self.next = int((self.next + n) % self.capacity)
        self.size = min(self.capacity, self.size + n)

    def sample(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        """``n`` rows drawn uniformly with replacement (``generator`` on the CPU)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty state bank")
        idx = torch.randint(self.size, (int(n),), generator=generator)
        return {k: v[idx.to(v.device)] for k, v in self.rows.items()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "size": self.size,
            "next": self.next,
            "rows": {k: v[: self.size].clone() for k, v in self.rows.items()},
        }

    def load_state_dict(self, data: dict[str, Any]) -> None:
        self.capacity = int(data["capacity"])
        self.size = int(data["size"])
        self.next = int(data["next"])
        self.rows = {}
        if data["rows"]:
            full = {}
            for key, value in data["rows"].items():
                buf = torch.zeros((self.capacity, *value.shape[1:]), dtype=value.dtype)
                buf[: self.size] = value
                full[key] = buf
            self.rows = full


def _row_count(rows: dict[str, Tensor]) -> int:
    lengths = {int(v.shape[0]) for v in rows.values()}
    if len(lengths) > 1:
        raise ValueError(f"state rows have different lengths {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def state_rows(env: Any, rows: Tensor) -> dict[str, Tensor]:
    """The dynamic state of copies ``rows`` (indices) of ``env``: everything ``get_state``
    holds except the episode sums."""
    state = env.get_state()
    return {k: v[rows] for k, v in state.items() if k not in _EPISODE_SUMS}


def start_rows_from(env: Any, rows: Tensor, states: dict[str, Tensor]) -> Tensor:
    """Put copies ``rows`` of ``env`` into ``states`` (zero episode sums); returns their obs.

    Only those rows change; the others keep their state. No env step is taken.
    """
    full = env.get_state()
    for key, value in states.items():
        full[key][rows] = value.to(full[key].device, full[key].dtype)
    for key in _EPISODE_SUMS:
        if key in full:
            full[key][rows] = 0
    env.set_state(full)
    # BatchedEnv.observe; the imagined env has only its private twin so far
    observe = getattr(env, "observe", None) or env._observe
    return observe()[rows]


class XPStartsEnv:
    """A batched env whose cross-play copies feed a :class:`StateBank` and whose self-play
    copies may start episodes from it (see the module docstring).

    Args:
        env: the batched env to wrap (the harness's metered env, so every step is counted).
        bank: where visited XP states go and SP starts come from.
        xp_copies: ``[B]`` bool, copies whose visited states are banked.
        sp_copies: ``[B]`` bool, copies whose next episode may start from a banked state.
        start_fraction: probability that a finished SP copy restarts from a banked state.
        seed: seed of the CPU generator deciding restarts and drawing states.
        xp_reward_weights: if given, the XP copies' rewards are recomputed from their
            events with these weights (XPM trains XP on the sparse reward: shaping in the
            minimised XP term would pay pi_m for quitting, a shaping penalty it could avoid
            only by failing faster).
    """

    def __init__(
        self,
        env: Any,
        bank: StateBank,
        xp_copies: Tensor,
        sp_copies: Tensor,
        start_fraction: float,
        seed: int,
        xp_reward_weights: Tensor | None = None,
    ):
        self.env = env
        self.bank = bank
        self.xp_copies = xp_copies.to(torch.bool).cpu()
        self.sp_copies = sp_copies.to(torch.bool).cpu()
        self.start_fraction = float(start_fraction)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.restarts = 0  # episodes started from a banked state (a diagnostic)
        self.xp_reward_matrix = None
        if xp_reward_weights is not None:  # [2 receivers, 2 actors, E] -> [2E, 2]
            w = xp_reward_weights.to(env.device)
            self.xp_reward_matrix = w.reshape(2, -1).T.contiguous()

    def step(self, actions: Tensor):
        obs, reward, term, trunc, info = self.env.step(actions)
        done = (term | trunc).cpu()
        if self.xp_reward_matrix is not None and bool(self.xp_copies.any()):
            rows = self.xp_copies.nonzero().squeeze(-1).to(reward.device)
            events = info["events"][rows]
            reward = reward.clone()
            reward[rows] = events.reshape(rows.numel(), -1) @ self.xp_reward_matrix
        live_xp = (self.xp_copies & ~done).nonzero().squeeze(-1)
        if live_xp.numel():
            self.bank.add(state_rows(self.env, live_xp.to(self.env.device)))
        obs = self._restart_finished(done, obs)
        return obs, reward, term, trunc, info

    def _restart_finished(self, done: Tensor, obs: Tensor) -> Tensor:
        candidates = (self.sp_copies & done).nonzero().squeeze(-1)
        if candidates.numel() == 0 or len(self.bank) == 0 or self.start_fraction <= 0:
            return obs
        draw = torch.rand(candidates.numel(), generator=self.generator)
        chosen = candidates[draw < self.start_fraction]
        if chosen.numel() == 0:
            return obs
        states = self.bank.sample(chosen.numel(), self.generator)
        rows = chosen.to(self.env.device)
        obs = obs.clone()
        obs[rows] = start_rows_from(self.env, rows, states).to(obs.dtype)
        if hasattr(self.env, "last_obs"):
            self.env.last_obs = obs
        self.restarts += int(chosen.numel())
        return obs

    def state_dict(self) -> dict[str, Any]:
        """The bank, the generator and the restart count (the env is checkpointed by the
        harness)."""
        return {
            "bank": self.bank.state_dict(),
            "generator": self.generator.get_state(),
            "restarts": self.restarts,
        }

    def load_state_dict(self, data: dict[str, Any]) -> None:
        self.bank.load_state_dict(data["bank"])
        self.generator.set_state(data["generator"])
        self.restarts = int(data["restarts"])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)
