"""Training the world model on replay, and filling replay from any pair of policies.

:class:`WMTrainer` owns the optimiser and one seeded generator (latent sampling); the replay
owns its own sampling generator. Both, with the model, are in :meth:`WMTrainer.state_dict`,
so a run resumed from a checkpoint continues bit for bit like an uninterrupted one (CPU).
"""

from __future__ import annotations

from typing import Any

import torch

from xpm_bench.wm.model import WorldModel
from xpm_bench.wm.replay import Recorder, Replay

Tensor = torch.Tensor


class WMTrainer:
    """Adam updates of a :class:`WorldModel` on sequences from a :class:`Replay`."""

    def __init__(self, model: WorldModel, replay: Replay, seed: int = 0):
        self.model, self.replay = model, replay
        cfg = model.cfg
        self.optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, eps=cfg.adam_eps)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.updates = 0

    def update(self, kinds: list[str] | None = None) -> dict[str, float]:
        """One gradient step on a fresh replay batch; returns the loss metrics."""
        cfg = self.model.cfg
        batch = self.replay.sample(cfg.batch_size, cfg.seq_len, kinds)
        self.model.train()
        loss, metrics = self.model.loss(batch, self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.updates += 1
        metrics["grad_norm"] = float(norm)
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """Model, optimiser, generator, update count and replay (a checkpoint)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "updates": self.updates,
            "replay": self.replay.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.updates = int(state["updates"])
        self.replay.load_state_dict(state["replay"])


def replay_for(model: WorldModel, capacity: int = 4096, rare_events: list[str] | None = None,
               seed: int = 0) -> Replay:  # fmt: skip
    """An empty replay sized for ``model``'s env; ``rare_events`` by name are oversampled
    with the model's ``rare_boost``."""
    names = model.event_names
    unknown = [e for e in rare_events or [] if e not in names]
    if unknown:
        raise ValueError(f"unknown rare event(s) {unknown}; the env's events: {names}")
    return Replay(
        model.codec.obs_shape,
        model.codec.obs_dtype,
        len(names),
        capacity,
        [names.index(e) for e in rare_events or []],
        model.cfg.rare_boost,
        seed,
    )


@torch.no_grad()
def collect(env: Any, policies: tuple[Any, Any], steps: int, recorder: Recorder,
            seed: int | None = None) -> None:  # fmt: skip
    """Play ``steps`` env steps of ``policies`` (seat 0, seat 1) in a batched ``env`` (any
    env with the batched interface, e.g. a metered one) and record them. Recurrent carries
    restart where an episode does."""
    obs, _ = env.reset(seed=seed)
    recorder.reset(obs)
    carries = [_fresh(p, env.num_envs) for p in policies]
    for _ in range(steps):
        acts = []
        for seat, policy in enumerate(policies):
            a, carries[seat] = policy.act(obs[:, seat], carries[seat])
            acts.append(a.to(obs.device))
        actions = torch.stack(acts, 1)
        obs, _, term, trunc, info = env.step(actions)
        recorder.step(actions, obs, term, trunc, info)
        done = term | trunc
        for seat, policy in enumerate(policies):
            if isinstance(carries[seat], Tensor) and bool(done.any()):
                fresh = _fresh(policy, env.num_envs)
                carries[seat][done] = fresh[done].to(carries[seat].dtype)


def _fresh(policy: Any, n: int) -> Any:
    reset = getattr(policy, "reset_carry", None)
    return reset(n) if reset is not None else None
