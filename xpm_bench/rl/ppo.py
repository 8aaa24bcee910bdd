"""PPO with decentralised actors and a centralised critic, on batched rollouts.

The pieces are separate so other generators can recombine them:

- :class:`PPOConfig`: the algorithm's hyper-parameters.
- :class:`Learner`: actor + centralised critic + optimiser, with ``state_dict`` for checkpoints.
- :func:`learner_batch`: turn a :class:`~xpm_bench.rl.rollout.Rollout` into the training batch of
  one learner (its streams only, values from its critic, GAE advantages).
- :func:`ppo_loss`: the clipped surrogate + value + entropy loss for one minibatch.
- :func:`ppo_update`: epochs x minibatches of :func:`ppo_loss` with gradient clipping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from xpm_bench.agents.networks import CentralCritic, NetPolicy, build_network
from xpm_bench.rl.gae import compute_gae
from xpm_bench.rl.rollout import Rollout

Tensor = torch.Tensor


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyper-parameters."""

    lr: float = 3e-4
    """Adam learning rate at the start of training."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the training budget."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip: float = 0.2
    """Surrogate clipping range epsilon."""
    clip_value: bool = True
    """Clip the value update to the same range around the old value."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    epochs: int = 4
    """Passes over each rollout."""
    minibatches: int = 4
    """Minibatches per epoch."""
    norm_adv: bool = True
    """Normalise advantages within each minibatch."""


def _seeded_init(seed: int, build):
    # Parameter initialisation draws from torch's global RNG: fork it so that building a
    # learner depends only on ``seed`` and leaves the caller's RNG untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build()


class Learner:
    """A trainable agent: actor network, centralised critic and one Adam optimiser."""

    def __init__(
        self,
        arch: str,
        arch_kwargs: dict[str, Any],
        config: PPOConfig,
        seed: int,
        device: str | torch.device = "cpu",
    ):
        self.arch, self.arch_kwargs = arch, dict(arch_kwargs)
        self.config = config
        self.device = torch.device(device)
        self.actor = _seeded_init(seed, lambda: build_network(arch, arch_kwargs)).to(self.device)
        self.critic = _seeded_init(seed + 1, lambda: CentralCritic(arch, arch_kwargs)).to(
            self.device
        )
        params = list(self.actor.parameters()) + list(self.critic.parameters())
        self.optimizer = torch.optim.Adam(params, lr=config.lr, eps=1e-5)

    def policy(self, deterministic: bool = False, seed: int = 0) -> NetPolicy:
        """A :class:`NetPolicy` sharing this learner's actor (not a copy)."""
        return NetPolicy(self.actor, deterministic=deterministic, seed=seed, device=self.device)

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def state_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.optimizer.load_state_dict(state["optimizer"])


@dataclass
class Batch:
    """One learner's training samples.

    ``obs``/``partner_obs`` are ``[T, N, *obs_shape]`` over all ``N = 2B`` streams (the
    partner's view completes the critic's joint input); ``mask`` ``[T, N]`` marks the steps
    this learner played. Other fields are ``[T, N]``.
    """

    obs: Tensor
    partner_obs: Tensor
    actions: Tensor
    logprobs: Tensor
    values: Tensor
    advantages: Tensor
    returns: Tensor
    starts: Tensor
    mask: Tensor
    start_carry: Tensor | None


def joint_obs(obs: Tensor, partner_obs: Tensor) -> Tensor:
    """The critic's input ``[N, 2, *obs_shape]``: own view first, partner's second."""
    return torch.stack([obs, partner_obs], dim=1)


@torch.no_grad()
def stream_values(critic: nn.Module, obs: Tensor, obs_ndim: int) -> Tensor:
    """Critic values of every stream of ``obs`` ``[..., 2, *obs_shape]`` -> ``[..., 2]``.

    Seat ``s`` is valued on ``(obs[s], obs[1 - s])``; ``obs_ndim`` is ``len(obs_shape)``.
    """
    lead = obs.shape[: obs.dim() - obs_ndim - 1]
    flat = obs.reshape(-1, 2, *obs.shape[obs.dim() - obs_ndim :])
    seat0 = critic(flat)
    seat1 = critic(flat.flip(1))
    return torch.stack([seat0, seat1], dim=-1).view(*lead, 2)


def learner_batch(
    rollout: Rollout, learner: Learner, index: int, config: PPOConfig, obs_ndim: int
) -> Batch:
    """The samples of actor ``index`` (the learner) in ``rollout``, with GAE advantages.

    Values are computed for every stream and GAE runs over all of them; since an actor's
    seat only changes between episodes and GAE does not cross episode ends, the learner's
    advantages are exact, and the mask then keeps only its steps.
    """
    t_len, b = rollout.actions.shape[:2]
    values = stream_values(learner.critic, rollout.obs, obs_ndim)
    last_values = stream_values(learner.critic, rollout.last_obs, obs_ndim)
    n = 2 * b
    dones = rollout.dones.repeat_interleave(2, dim=1)
    adv, ret = compute_gae(
        rollout.rewards.reshape(t_len, n),
        values.reshape(t_len, n),
        dones,
        last_values.reshape(n),
        config.gamma,
        config.gae_lambda,
    )
    obs = rollout.obs.reshape(t_len, n, *rollout.obs.shape[3:])
    partner = rollout.obs.flip(2).reshape(t_len, n, *rollout.obs.shape[3:])
    start_carry = rollout.start_carries[index]
    return Batch(
        obs=obs,
        partner_obs=partner,
        actions=rollout.actions.reshape(t_len, n),
        logprobs=rollout.logprobs.reshape(t_len, n),
        values=values.reshape(t_len, n),
        advantages=adv,
        returns=ret,
        starts=rollout.starts.repeat_interleave(2, dim=1),
        mask=rollout.controller.reshape(t_len, n) == index,
        start_carry=start_carry,
    )


def ppo_loss(
    logits: Tensor,
    new_values: Tensor,
    actions: Tensor,
    old_logprobs: Tensor,
    old_values: Tensor,
    advantages: Tensor,
    returns: Tensor,
    config: PPOConfig,
) -> tuple[Tensor, dict[str, float]]:
    """Clipped-surrogate PPO loss for one minibatch of flat samples; returns ``(loss, stats)``."""
    log_probs = torch.log_softmax(logits, dim=-1)
    new_logprobs = log_probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1).mean()
    if config.norm_adv and advantages.numel() > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    ratio = (new_logprobs - old_logprobs).exp()
    pg_loss = -torch.min(
        ratio * advantages, ratio.clamp(1 - config.clip, 1 + config.clip) * advantages
    ).mean()
    if config.clip_value:
        clipped = old_values + (new_values - old_values).clamp(-config.clip, config.clip)
        v_loss = 0.5 * torch.max((new_values - returns) ** 2, (clipped - returns) ** 2).mean()
    else:
        v_loss = 0.5 * ((new_values - returns) ** 2).mean()
    loss = pg_loss - config.ent_coef * entropy + config.vf_coef * v_loss
    with torch.no_grad():
        approx_kl = ((ratio - 1) - (new_logprobs - old_logprobs)).mean()
        clip_frac = ((ratio - 1).abs() > config.clip).float().mean()
    stats = {
        "policy_loss": float(pg_loss.detach()),
        "value_loss": float(v_loss.detach()),
        "entropy": float(entropy.detach()),
        "approx_kl": float(approx_kl),
        "clip_frac": float(clip_frac),
    }
    return loss, stats


def ppo_update(
    learner: Learner, batch: Batch, config: PPOConfig, generator: torch.Generator
) -> dict[str, float]:
    """Run ``epochs`` x ``minibatches`` PPO steps on ``batch``; returns mean stats.

    Feed-forward actors shuffle individual samples; recurrent actors shuffle whole streams
    and replay each stream's sequence from its stored start carry.
    """
    if learner.actor.recurrent:
        return _update_streams(learner, batch, config, generator)
    return _update_samples(learner, batch, config, generator)


def _step(learner: Learner, loss: Tensor, config: PPOConfig) -> None:
    learner.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for g in learner.optimizer.param_groups for p in g["params"]]
    nn.utils.clip_grad_norm_(params, config.max_grad_norm)
    learner.optimizer.step()


def _mean_stats(all_stats: list[dict[str, float]]) -> dict[str, float]:
    if not all_stats:
        return {}
    return {k: sum(s[k] for s in all_stats) / len(all_stats) for k in all_stats[0]}


def _update_samples(
    learner: Learner, batch: Batch, config: PPOConfig, generator: torch.Generator
) -> dict[str, float]:
    idx = batch.mask.reshape(-1).nonzero().squeeze(-1)
    flat = {
        "obs": batch.obs.reshape(-1, *batch.obs.shape[2:])[idx],
        "partner": batch.partner_obs.reshape(-1, *batch.obs.shape[2:])[idx],
        "actions": batch.actions.reshape(-1)[idx],
        "logprobs": batch.logprobs.reshape(-1)[idx],
        "values": batch.values.reshape(-1)[idx],
        "adv": batch.advantages.reshape(-1)[idx],
        "returns": batch.returns.reshape(-1)[idx],
    }
    n = idx.numel()
    size = max(1, n // config.minibatches)
    all_stats = []
    for _ in range(config.epochs):
        perm = torch.randperm(n, generator=generator, device="cpu").to(idx.device)
        for start in range(0, n - size + 1, size):
            mb = perm[start : start + size]
            logits, _ = learner.actor(flat["obs"][mb])
            values = learner.critic(joint_obs(flat["obs"][mb], flat["partner"][mb]))
            loss, stats = ppo_loss(
                logits,
                values,
                flat["actions"][mb],
                flat["logprobs"][mb],
                flat["values"][mb],
                flat["adv"][mb],
                flat["returns"][mb],
                config,
            )
            _step(learner, loss, config)
            all_stats.append(stats)
    return _mean_stats(all_stats)


def _update_streams(
    learner: Learner, batch: Batch, config: PPOConfig, generator: torch.Generator
) -> dict[str, float]:
    streams = batch.mask.any(dim=0).nonzero().squeeze(-1)
    n = streams.numel()
    size = max(1, n // config.minibatches)
    all_stats = []
    for _ in range(config.epochs):
        perm = streams[torch.randperm(n, generator=generator, device="cpu").to(streams.device)]
        for start in range(0, n - size + 1, size):
            cols = perm[start : start + size]
            carry = None if batch.start_carry is None else batch.start_carry[cols]
            logits = learner.actor.unroll(batch.obs[:, cols], carry, batch.starts[:, cols])
            mask = batch.mask[:, cols]
            obs_m = batch.obs[:, cols][mask]
            values = learner.critic(joint_obs(obs_m, batch.partner_obs[:, cols][mask]))
            loss, stats = ppo_loss(
                logits[mask],
                values,
                batch.actions[:, cols][mask],
                batch.logprobs[:, cols][mask],
                batch.values[:, cols][mask],
                batch.advantages[:, cols][mask],
                batch.returns[:, cols][mask],
                config,
            )
            _step(learner, loss, config)
            all_stats.append(stats)
    return _mean_stats(all_stats)
