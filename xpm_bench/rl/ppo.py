"""Multi-learner PPO over named streams, with decentralised actors and centralised critics.

The pieces are separate so every generator recombines them:

- :class:`PPOConfig`: the algorithm's hyper-parameters.
- :class:`Learner`: actor + stream critic (one value head per stream of its objective) +
  optimiser; its objective is data, a tuple of :class:`~xpm_bench.rl.streams.Stream`.
- :func:`learner_batch`: a learner's samples of a :class:`~xpm_bench.rl.rollout.Rollout`, each
  tagged with its stream, valued by that stream's head, with GAE advantages normalised per
  stream.
- :func:`ppo_update`: epochs x minibatches of the weighted loss with gradient clipping;
  :func:`update_learners` runs it for several learners from one rollout.

The loss of a learner is ``sum_s w_s * PG_s + vf_coef * sum_s V_s - ent_coef * H``: each
stream's clipped surrogate ``PG_s`` and value loss ``V_s`` are means over that stream's
samples, ``H`` the mean entropy over all the learner's samples. Only the policy-gradient
term is weighted: a negative weight turns the policy away from that stream's return, while
the stream's value head keeps fitting it and the entropy bonus keeps its sign.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from xpm_bench.agents.networks import NetPolicy, build_network
from xpm_bench.rl.critics import StreamCritic
from xpm_bench.rl.gae import compute_gae
from xpm_bench.rl.rollout import Rollout
from xpm_bench.rl.sparse import SparseRows, sparse_mlp_forward, sparse_mlp_ok
from xpm_bench.rl.streams import Stream, stream_ids

Tensor = torch.Tensor
SP_OBJECTIVE = (Stream("sp"),)


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
    """Normalise each stream's advantages over its samples in the rollout."""


def _seeded_init(seed: int, build):
    # Parameter initialisation draws from torch's global RNG: fork it so that building a
    # learner depends only on ``seed`` and leaves the caller's RNG untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build()


class Learner:
    """A trainable agent: actor network, stream critic and one Adam optimiser.

    ``streams`` is the learner's objective (default: self-play only)."""

    def __init__(
        self,
        arch: str,
        arch_kwargs: dict[str, Any],
        config: PPOConfig,
        seed: int,
        device: str | torch.device = "cpu",
        streams: Sequence[Stream] = SP_OBJECTIVE,
    ):
        self.arch, self.arch_kwargs = arch, dict(arch_kwargs)
        self.config = config
        self.device = torch.device(device)
        self.streams = tuple(streams)
        if not self.streams:
            raise ValueError("a learner needs at least one stream")
        self.actor = _seeded_init(seed, lambda: build_network(arch, arch_kwargs)).to(self.device)
        self.critic = _seeded_init(
            seed + 1, lambda: StreamCritic(arch, arch_kwargs, len(self.streams))
        ).to(self.device)
        params = list(self.actor.parameters()) + list(self.critic.parameters())
        # fused: one kernel for all parameters (per-parameter Python loops cost more than the
        # arithmetic at these sizes); the same update rule and state_dict as plain Adam
        self.optimizer = torch.optim.Adam(params, lr=config.lr, eps=1e-5, fused=True)

    def policy(self, deterministic: bool = False, seed: int = 0) -> NetPolicy:
        """A :class:`NetPolicy` sharing this learner's actor (not a copy)."""
        return NetPolicy(self.actor, deterministic=deterministic, seed=seed, device=self.device)

    def reweight(self, weights: dict[str, float]) -> None:
        """Change stream weights by name (e.g. LIPO's max-XP partner), keeping the streams and
        their value heads; an unknown name raises ``ValueError``."""
        known = {s.name for s in self.streams}
        unknown = sorted(set(weights) - known)
        if unknown:
            raise ValueError(f"unknown stream(s) {', '.join(unknown)}; streams: {', '.join(known)}")
        self.streams = tuple(Stream(s.name, weights.get(s.name, s.weight)) for s in self.streams)

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
    """One learner's samples of a rollout, over all ``N = 2B`` seat streams.

    ``obs``/``partner_obs`` are ``[T, N, *obs_shape]`` (the partner's view completes the
    critic's joint input); ``stream`` ``[T, N]`` is the index of each sample's stream in the
    learner's objective (``-1``: not trained on); ``acted`` ``[T, N]`` marks the steps the
    learner played (its recurrent carry moves only there). Other fields are ``[T, N]``.
    """

    obs: Tensor
    partner_obs: Tensor
    actions: Tensor
    logprobs: Tensor
    values: Tensor
    advantages: Tensor
    returns: Tensor
    starts: Tensor
    stream: Tensor
    acted: Tensor
    start_carry: Tensor | None
    sparse: SparseRows | None = None
    """``obs`` as sparse rows ``[T * N]`` when the learner's nets take them (else None)."""

    @property
    def mask(self) -> Tensor:
        return self.stream >= 0


def joint_obs(obs: Tensor, partner_obs: Tensor) -> Tensor:
    """The critic's input ``[N, 2, *obs_shape]``: own view first, partner's second."""
    return torch.stack([obs, partner_obs], dim=1)


def _seat_streams(x: Tensor) -> Tensor:
    """``[T, B, 2, ...] -> [T, 2B, ...]`` (row ``2b + s``)."""
    return x.reshape(x.shape[0], x.shape[1] * 2, *x.shape[3:])


@torch.no_grad()
def _stream_values(critic: StreamCritic, obs: Tensor, partner: Tensor, stream: Tensor) -> Tensor:
    """Values of flat samples ``obs``/``partner`` ``[n, *obs_shape]`` under heads ``stream``
    ``[n]``; 0 where ``stream`` is ``-1``."""
    out = torch.zeros(stream.shape, device=obs.device)
    rows = (stream >= 0).nonzero().squeeze(-1)
    if rows.numel():
        out[rows] = critic.value(joint_obs(obs[rows], partner[rows]), stream[rows])
    return out


def learner_batch(
    rollout: Rollout,
    learner: Learner,
    index: int,
    config: PPOConfig | None = None,
    obs_ndim: int | None = None,
    bootstrap_truncated: bool = False,
) -> Batch:
    """The samples of actor ``index`` (the learner) in ``rollout``, by stream, with GAE.

    Values are those of each sample's own stream head. GAE runs along each seat stream of the
    rollout: a copy's seating changes only between episodes, and within a mixed-play episode
    the post-switch steps (the only trained ones) come last, so the advantage of every trained
    sample depends only on samples of its own stream. ``bootstrap_truncated``: treat
    truncation as a time limit (bootstrap from the final observation's value); by default it
    ends the episode like a termination (see :mod:`xpm_bench.rl.gae`).
    """
    del obs_ndim  # the shapes say it; kept for callers of the old signature
    config = config or learner.config
    t_len, b = rollout.actions.shape[:2]
    n = 2 * b
    sid = stream_ids(
        rollout.controller,
        rollout.pre_switch,
        rollout.mix_partner,
        index,
        learner.streams,
        rollout.names,
    ).reshape(t_len, n)
    obs = _seat_streams(rollout.obs)
    partner = _seat_streams(rollout.obs.flip(2))
    flat_obs, flat_partner = (
        obs.reshape(t_len * n, *obs.shape[2:]),
        partner.reshape(t_len * n, *obs.shape[2:]),
    )
    sparse = rollout.sparse_obs() if _takes_sparse(learner) else None
    if sparse is not None:
        values = _sparse_stream_values(learner.critic, sparse, sid.reshape(-1)).view(t_len, n)
    else:
        values = _stream_values(learner.critic, flat_obs, flat_partner, sid.reshape(-1))
        values = values.view(t_len, n)
    last = rollout.last_obs.reshape(n, *obs.shape[2:])
    last_partner = rollout.last_obs.flip(1).reshape(n, *obs.shape[2:])
    last_values = _stream_values(learner.critic, last, last_partner, sid[-1])
    continues = rollout.continues.repeat_interleave(2, dim=1)
    truncated = rollout.truncated.repeat_interleave(2, dim=1)
    final_values = None
    if bootstrap_truncated and rollout.final_obs is not None and bool(truncated.any()):
        fin = _seat_streams(rollout.final_obs).reshape(t_len * n, *obs.shape[2:])
        fin_partner = _seat_streams(rollout.final_obs.flip(2)).reshape(t_len * n, *obs.shape[2:])
        fin_sid = torch.where(truncated, sid, -1).reshape(-1)
        final_values = _stream_values(learner.critic, fin, fin_partner, fin_sid).view(t_len, n)
    else:
        continues = continues * (~truncated).to(continues.dtype)
        truncated = None
    adv, ret = compute_gae(
        _seat_streams(rollout.rewards.unsqueeze(-1)).squeeze(-1),
        values,
        continues,
        last_values,
        config.gamma,
        config.gae_lambda,
        truncated,
        final_values,
    )
    return Batch(
        obs=obs,
        partner_obs=partner,
        actions=_seat_streams(rollout.actions.unsqueeze(-1)).squeeze(-1),
        logprobs=_seat_streams(rollout.logprobs.unsqueeze(-1)).squeeze(-1),
        values=values,
        advantages=adv,
        returns=ret,
        starts=rollout.starts.repeat_interleave(2, dim=1),
        stream=sid,
        acted=_seat_streams(rollout.controller.unsqueeze(-1)).squeeze(-1) == index,
        start_carry=rollout.start_carries[index],
        sparse=sparse,
    )


def _takes_sparse(learner: Learner) -> bool:
    return sparse_mlp_ok(learner.actor) and learner.critic.takes_sparse


def _partner_rows(n: int, device: torch.device) -> Tensor:
    """Row of each seat stream's partner in a flat ``[T * 2B]`` batch (``2b + s`` <-> ``2b + 1 - s``)."""
    return torch.arange(n, device=device) ^ 1


@torch.no_grad()
def _sparse_stream_values(critic: StreamCritic, sparse: SparseRows, stream: Tensor) -> Tensor:
    out = torch.zeros(stream.shape, device=stream.device)
    rows = (stream >= 0).nonzero().squeeze(-1)
    if rows.numel():
        partner = _partner_rows(stream.numel(), stream.device)[rows]
        out[rows] = critic.sparse_value(sparse[rows], sparse[partner], stream[rows])
    return out


def normalise_per_stream(advantages: Tensor, stream: Tensor, n_streams: int) -> Tensor:
    """Each stream's advantages minus its mean over its samples, over its std (unbiased);
    entries with stream ``-1`` are returned as 0."""
    rows = (stream >= 0).reshape(-1).nonzero().squeeze(-1)
    flat_adv, flat_sid = advantages.reshape(-1)[rows], stream.reshape(-1)[rows]
    counts = torch.bincount(flat_sid, minlength=n_streams).to(advantages.dtype)
    zeros = torch.zeros(n_streams, dtype=advantages.dtype, device=advantages.device)
    mean = zeros.index_add(0, flat_sid, flat_adv) / counts.clamp_min(1)
    centred = flat_adv - mean[flat_sid]
    var = zeros.index_add(0, flat_sid, centred * centred) / (counts - 1).clamp_min(1)
    out = torch.zeros_like(advantages).reshape(-1)
    out[rows] = centred / (var.sqrt()[flat_sid] + 1e-8)
    return out.view_as(advantages)


def ppo_loss(
    logits: Tensor,
    new_values: Tensor,
    actions: Tensor,
    old_logprobs: Tensor,
    old_values: Tensor,
    advantages: Tensor,
    returns: Tensor,
    config: PPOConfig,
    weight: Tensor | None = None,
    scale: Tensor | None = None,
    stream: Tensor | None = None,
    n_streams: int = 1,
) -> tuple[Tensor, dict[str, Tensor]]:
    """The weighted clipped-surrogate loss of one minibatch of flat samples.

    ``weight`` ``[n]`` is each sample's stream weight (1 if None), ``scale`` ``[n]`` the
    reciprocal of its stream's expected sample count in a minibatch (``1/n`` if None), so
    that the sums below are per-stream means. With ``norm_adv`` each stream's advantages
    (``stream`` ``[n]``, ``n_streams`` of them) are normalised over its samples in the
    minibatch, as CleanRL does for one stream (normalising over the whole rollout instead
    learned clearly worse in testing: MPPMR self-play return 0.36 against 0.97 for one seed).
    Returns ``(loss, stats)``, stats as 0-d tensors (no host sync per minibatch).
    """
    log_probs = torch.log_softmax(logits, dim=-1)
    new_logprobs = log_probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1).mean()
    if scale is None:
        scale = torch.full_like(advantages, 1.0 / advantages.numel())
    if config.norm_adv and advantages.numel() > 1:
        if n_streams == 1 or stream is None:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        else:
            advantages = normalise_per_stream(advantages, stream, n_streams)
    ratio = (new_logprobs - old_logprobs).exp()
    pg = -torch.min(ratio * advantages, ratio.clamp(1 - config.clip, 1 + config.clip) * advantages)
    pg_loss = (pg * scale * (weight if weight is not None else 1.0)).sum()
    if config.clip_value:
        clipped = old_values + (new_values - old_values).clamp(-config.clip, config.clip)
        v_err = torch.max((new_values - returns) ** 2, (clipped - returns) ** 2)
    else:
        v_err = (new_values - returns) ** 2
    v_loss = 0.5 * (v_err * scale).sum()
    loss = pg_loss - config.ent_coef * entropy + config.vf_coef * v_loss
    with torch.no_grad():
        log_ratio = new_logprobs - old_logprobs
        stats = {
            "policy_loss": pg.mean(),
            "value_loss": 0.5 * v_err.mean(),
            "entropy": entropy.detach(),
            "approx_kl": ((ratio - 1) - log_ratio).mean(),
            "clip_frac": ((ratio - 1).abs() > config.clip).float().mean(),
        }
    return loss, stats


def ppo_update(
    learner: Learner, batch: Batch, config: PPOConfig | None, generator: torch.Generator
) -> dict[str, float]:
    """Run ``epochs`` x ``minibatches`` PPO steps on ``batch``; returns mean stats.

    Feed-forward actors shuffle individual samples; recurrent actors shuffle whole seat
    streams and replay each one from its stored start carry.
    """
    config = config or learner.config
    if not bool(batch.mask.any()):
        return {}
    if learner.actor.recurrent:
        return _update_streams(learner, batch, config, generator)
    return _update_samples(learner, batch, config, generator)


def update_learners(
    learners: Sequence[Learner],
    indices: Sequence[int],
    rollout: Rollout,
    generator: torch.Generator,
    bootstrap_truncated: bool = False,
) -> list[dict[str, float]]:
    """Update every learner (actor ``indices[i]`` of the rollout) from one rollout, each on
    its own samples and objective; returns each learner's stats."""
    return [
        ppo_update(
            learner,
            learner_batch(rollout, learner, index, bootstrap_truncated=bootstrap_truncated),
            learner.config,
            generator,
        )
        for learner, index in zip(learners, indices, strict=True)
    ]


def _stream_tables(learner: Learner, stream: Tensor, per_minibatch: float) -> tuple[Tensor, Tensor]:
    """Per stream: its PG weight and ``1 /`` its expected sample count in a minibatch
    (``per_minibatch`` is the minibatch's share of all the learner's samples)."""
    n_streams = len(learner.streams)
    counts = torch.bincount(stream, minlength=n_streams).to(torch.float32)
    weights = torch.tensor([s.weight for s in learner.streams], device=stream.device)
    scale = 1.0 / (counts * per_minibatch).clamp_min(1e-8)
    return weights, scale


def flat_samples(learner: Learner, batch: Batch, minibatches: int = 1) -> dict[str, Tensor]:
    """A feed-forward learner's trained samples as flat ``[n, ...]`` tensors, with each
    sample's stream weight and loss scale for minibatches of ``n // minibatches``."""
    idx = batch.mask.reshape(-1).nonzero().squeeze(-1)
    shape = batch.obs.shape[2:]
    if batch.sparse is not None:
        partner = _partner_rows(batch.mask.numel(), idx.device)[idx]
        obs = {
            "obs_idx": batch.sparse.idx[idx],
            "obs_val": batch.sparse.val[idx],
            "partner_idx": batch.sparse.idx[partner],
            "partner_val": batch.sparse.val[partner],
        }
    else:
        obs = {
            "obs": batch.obs.reshape(-1, *shape)[idx],
            "partner": batch.partner_obs.reshape(-1, *shape)[idx],
        }
    flat = {
        **obs,
        "actions": batch.actions.reshape(-1)[idx],
        "logprobs": batch.logprobs.reshape(-1)[idx],
        "values": batch.values.reshape(-1)[idx],
        "adv": batch.advantages.reshape(-1)[idx],
        "returns": batch.returns.reshape(-1)[idx],
        "stream": batch.stream.reshape(-1)[idx],
    }
    n = idx.numel()
    size = max(1, n // minibatches)
    weights, scale = _stream_tables(learner, flat["stream"], size / n)
    flat["weight"], flat["scale"] = weights[flat["stream"]], scale[flat["stream"]]
    return flat


def minibatch_loss(
    learner: Learner, mb: dict[str, Tensor], config: PPOConfig
) -> tuple[Tensor, dict[str, Tensor]]:
    """The learner's loss on a minibatch of :func:`flat_samples` (feed-forward actors)."""
    if "obs_idx" in mb:
        dim = learner.actor.encoder[1][0].in_features
        own = SparseRows(mb["obs_idx"], mb["obs_val"], dim)
        partner = SparseRows(mb["partner_idx"], mb["partner_val"], dim)
        logits = sparse_mlp_forward(learner.actor, own)
        values = learner.critic.sparse_value(own, partner, mb["stream"])
    else:
        logits, _ = learner.actor(mb["obs"])
        values = learner.critic.value(joint_obs(mb["obs"], mb["partner"]), mb["stream"])
    return ppo_loss(
        logits,
        values,
        mb["actions"],
        mb["logprobs"],
        mb["values"],
        mb["adv"],
        mb["returns"],
        config,
        mb["weight"],
        mb["scale"],
        mb["stream"],
        len(learner.streams),
    )


def _update_samples(
    learner: Learner, batch: Batch, config: PPOConfig, generator: torch.Generator
) -> dict[str, float]:
    flat = flat_samples(learner, batch, config.minibatches)
    n = flat["actions"].shape[0]
    size = max(1, n // config.minibatches)
    all_stats = []
    for _ in range(config.epochs):
        perm = torch.randperm(n, generator=generator, device="cpu").to(flat["actions"].device)
        # one gather per field and epoch; the minibatches are then contiguous slices (views)
        shuffled = {k: v[perm] for k, v in flat.items()}
        for start in range(0, n - size + 1, size):
            mb = {k: v[start : start + size] for k, v in shuffled.items()}
            loss, stats = minibatch_loss(learner, mb, config)
            _step(learner, loss, config)
            all_stats.append(stats)
    return _mean_stats(all_stats)


def masked_unroll(
    net: nn.Module, obs: Tensor, start_carry: Tensor | None, starts: Tensor, acted: Tensor
) -> Tensor:
    """A recurrent actor's logits over ``obs`` ``[T, n, ...]``: the carry resets where
    ``starts`` and moves only where ``acted`` (the steps the actor played, as in the engine)."""
    t_len, n = obs.shape[:2]
    flat = obs.reshape(t_len * n, *obs.shape[2:])
    feat = net.encoder(flat if flat.dtype == torch.float32 else flat.float()).view(t_len, n, -1)
    carry = start_carry if start_carry is not None else net.initial_carry(n, obs.device)
    outs = []
    for t in range(t_len):
        carry = carry * (~starts[t]).unsqueeze(-1).to(carry.dtype)
        moved = net.gru(feat[t], carry)
        outs.append(moved)
        carry = torch.where(acted[t].unsqueeze(-1), moved, carry)
    return net.head(torch.stack(outs))


def _update_streams(
    learner: Learner, batch: Batch, config: PPOConfig, generator: torch.Generator
) -> dict[str, float]:
    cols_all = batch.mask.any(dim=0).nonzero().squeeze(-1)
    n = cols_all.numel()
    size = max(1, n // config.minibatches)
    flat_stream = batch.stream[batch.mask]
    weights, scale = _stream_tables(learner, flat_stream, size / n)
    all_stats = []
    for _ in range(config.epochs):
        perm = cols_all[torch.randperm(n, generator=generator, device="cpu").to(cols_all.device)]
        for start in range(0, n - size + 1, size):
            cols = perm[start : start + size]
            carry = None if batch.start_carry is None else batch.start_carry[cols]
            logits = masked_unroll(
                learner.actor,
                batch.obs[:, cols],
                carry,
                batch.starts[:, cols],
                batch.acted[:, cols],
            )
            mask = batch.mask[:, cols]
            sid = batch.stream[:, cols][mask]
            values = learner.critic.value(
                joint_obs(batch.obs[:, cols][mask], batch.partner_obs[:, cols][mask]), sid
            )
            loss, stats = ppo_loss(
                logits[mask],
                values,
                batch.actions[:, cols][mask],
                batch.logprobs[:, cols][mask],
                batch.values[:, cols][mask],
                batch.advantages[:, cols][mask],
                batch.returns[:, cols][mask],
                config,
                weights[sid],
                scale[sid],
                sid,
                len(learner.streams),
            )
            _step(learner, loss, config)
            all_stats.append(stats)
    return _mean_stats(all_stats)


def _step(learner: Learner, loss: Tensor, config: PPOConfig) -> None:
    learner.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for g in learner.optimizer.param_groups for p in g["params"]]
    nn.utils.clip_grad_norm_(params, config.max_grad_norm, foreach=True)
    learner.optimizer.step()


def _mean_stats(all_stats: list[dict[str, Tensor]]) -> dict[str, float]:
    if not all_stats:
        return {}
    keys = list(all_stats[0])
    means = torch.stack([torch.stack([s[k] for s in all_stats]) for k in keys]).mean(dim=1)
    return dict(zip(keys, means.tolist(), strict=True))
