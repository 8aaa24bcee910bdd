"""World-model plumbing of XPM-WM: recording real steps into replay, (fine-)tuning the model.

- :class:`RecordingEnv` wraps the harness's metered env so every real step the rollout engine
  takes is also written into a replay buffer (B_SP or B_XP) by a
  :class:`~xpm_bench.wm.replay.Recorder`; the engine sees an ordinary batched env.
- :func:`model_update` is one gradient step of the Phase-2 fine-tuning loss (package
  docstring): the model's own loss on replayed real sequences plus ``kl_gamma`` times the
  KL from the frozen previous model's posteriors to this model's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from xpm_bench.wm.model import WorldModel
from xpm_bench.wm.replay import Recorder
from xpm_bench.wm.train import WMTrainer

Tensor = torch.Tensor


class RecordingEnv:
    """A batched env whose steps are also recorded into a replay buffer (see module doc)."""

    def __init__(self, env: Any, recorder: Recorder):
        self.env, self.recorder = env, recorder

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.recorder.reset(obs)
        return obs, info

    def step(self, actions: Tensor):
        obs, reward, term, trunc, info = self.env.step(actions)
        self.recorder.step(actions, obs, term, trunc, info)
        return obs, reward, term, trunc, info

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)


def model_update(
    trainer: WMTrainer,
    frozen: WorldModel | None = None,
    kl_gamma: float = 0.0,
    kinds: Sequence[str] | None = None,
) -> dict[str, float]:
    """One Adam step on ``L_W + kl_gamma * KL(frozen posterior || posterior)``.

    Without ``frozen`` (Phase 1) or with ``kl_gamma`` 0 this is the model's plain loss. The
    batch, the latent samples and the optimiser are the trainer's, so the step is part of
    the trainer's checkpointed state.
    """
    model, cfg = trainer.model, trainer.model.cfg
    batch = trainer.replay.sample(cfg.batch_size, cfg.seq_len, kinds)
    model.train()
    loss, metrics = model.loss(batch, trainer.generator)
    if frozen is not None and kl_gamma > 0:
        kl = model.kl_to(frozen, batch, trainer.generator)
        loss = loss + kl_gamma * kl
        metrics["kl_previous"] = float(kl.detach())
    trainer.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    trainer.optimizer.step()
    trainer.updates += 1
    metrics["grad_norm"] = float(norm)
    model.eval()
    return metrics


class FeatureEnv:
    """A real batched env seen through the world model: each seat's observation becomes the
    features of that seat's filtered latent state (``[B, 2, feat_dim]``), so a latent actor
    (the same ``mlp`` that acts in imagination) trains with PPO on real steps
    (``phase1_mode=real|both``).

    Each seat is filtered ego-centrically with the true joint action that led to its
    observation (the wrapper sees both; a member alone infers its partner's action with the
    model's partner head, :class:`~xpm_bench.agents.wm_actor.WMFeaturePolicy`). Steps pass
    through to the wrapped env (recorded and metered there).
    """

    def __init__(self, env: Any, model: WorldModel, seed: int):
        self.env, self.model = env, model
        self.generator = torch.Generator(device=env.device).manual_seed(int(seed))
        self.observation_shape = (model.feat_dim,)
        self.states: list[dict[str, Tensor]] = []

    @torch.no_grad()
    def _filter(self, seat: int, obs: Tensor, actions: Tensor | None, first: Tensor) -> Tensor:
        model = self.model
        embed = model.embed(obs[:, seat])
        joint = actions if actions is not None else torch.zeros_like(obs[:, :, 0], dtype=torch.long)
        joint = joint.flip(-1) if seat == 1 else joint
        post, _ = model.rssm.obs_step(self.states[seat], joint.long(), embed, first,
                                      self.generator)  # fmt: skip
        self.states[seat] = post
        return model.features(post)

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        n = obs.shape[0]
        self.states = [self.model.initial(n, obs.device) for _ in (0, 1)]
        first = torch.ones(n, dtype=torch.bool, device=obs.device)
        return torch.stack([self._filter(s, obs, None, first) for s in (0, 1)], 1), info

    def step(self, actions: Tensor):
        obs, reward, term, trunc, info = self.env.step(actions)
        done = term | trunc
        not_first = torch.zeros_like(done)
        if bool(done.any()):  # features of the final observation, then restart the filter
            final = info["final_obs"]
            saved = [dict(s) for s in self.states]
            info = dict(info)
            info["final_obs"] = torch.stack(
                [self._filter(s, final, actions, not_first) for s in (0, 1)], 1
            )
            self.states = saved
        feats = torch.stack([self._filter(s, obs, actions, done) for s in (0, 1)], 1)
        return feats, reward, term, trunc, info

    def state_dict(self) -> dict[str, Any]:
        return {
            "states": [{k: v.clone() for k, v in s.items()} for s in self.states],
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, data: dict[str, Any]) -> None:
        self.states = [{k: v.clone() for k, v in s.items()} for s in data["states"]]
        self.generator.set_state(data["generator"])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)
