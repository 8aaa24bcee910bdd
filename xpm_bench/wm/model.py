"""The world model: codec + RSSM + heads behind four small interfaces (as in DreamerV3).

The model is **ego-centric**: it filters one seat's observations, and every action and event
is ordered ego first (``[own, partner]``). Trained on both seats' views of every real
transition (:mod:`xpm_bench.wm.replay` serves both), one model serves a member in either seat
without knowing which seat it plays.

A batch is time-major; step ``t`` holds

- ``obs [T, B, *obs_shape]``: the observation at ``t``;
- ``action [T, B, 2]``: the joint action that *led to* ``obs[t]`` (ignored where ``is_first``);
- ``events [T, B, 2, E]``: the events that action produced (zero where ``is_first``);
- ``cont [T, B]``: 0 where that action ended the episode by true termination, else 1 (a time
  limit is not a termination);
- ``is_first [T, B]``: ``obs[t]`` starts an episode (set at every auto-reset).

So the heads on the state at ``t`` predict what arrived with ``obs[t]``, and imagining from
the posterior at ``t`` with ``action[t + 1]`` gives the prior at ``t + 1`` (no off-by-one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from xpm_bench.wm.codecs import Codec, codec_for_env, codec_from_spec, mlp
from xpm_bench.wm.config import WMConfig
from xpm_bench.wm.heads import BinaryHead, EventHead, TwoHotHead, zero_output
from xpm_bench.wm.rssm import RSSM, State, kl_categorical

Tensor = torch.Tensor
ImaginePolicy = Callable[[Tensor, State], Tensor]
"""``policy(features [B, F], state) -> joint actions [B, 2]`` (ego first)."""

MODULE_NAME = "world_model"
"""The shared-module kind a population file stores this model under."""


class WorldModel(nn.Module):
    """RSSM world model of a two-player env (see the module docstring for the data layout)."""

    def __init__(
        self,
        codec: Codec,
        num_actions: int,
        event_names: Sequence[str],
        cfg: WMConfig,
        event_max_counts: Sequence[int] | None = None,
        scalar_weights: Sequence[float] | None = None,
    ):
        super().__init__()
        self.codec, self.cfg = codec, cfg
        self.num_actions = int(num_actions)
        self.event_names = [str(e) for e in event_names]
        n_events = len(self.event_names)
        self.event_max_counts = [int(k) for k in (event_max_counts or [1] * n_events)]
        weights = scalar_weights if scalar_weights is not None else [0.0] * n_events
        self.register_buffer("scalar_weights", torch.tensor(weights, dtype=torch.float32))
        self.encoder = mlp(codec.input_dim, cfg.hidden, max(cfg.layers, 1))
        self.rssm = RSSM(cfg, cfg.hidden, self.num_actions)
        feat = self.rssm.feat_dim
        self.decoder = mlp(feat, cfg.hidden, cfg.layers, codec.output_dim)
        # the heads also read the joint action that led to the state: events and termination
        # are functions of (previous state, action), and an explicit action generalises to
        # states where an action was rare in training (a quit far from the hub)
        acts = 2 * self.num_actions
        player_in = cfg.deter + (cfg.joint_latents + cfg.player_latents) * cfg.classes + acts
        self.event_head = EventHead(player_in, cfg.hidden, cfg.layers, self.event_max_counts)
        self.cont_head = BinaryHead(feat + acts, cfg.hidden, cfg.layers)
        self.reward_head = (
            TwoHotHead(feat + acts, cfg.hidden, cfg.layers, cfg.reward_bins)
            if cfg.reward_head == "scalar"
            else None
        )
        # inverse dynamics: the partner's last action from (previous observation, own last
        # action, new observation), both as encoder embeddings; members use it at execution,
        # where the partner's action is unseen. Observations, not latents: a member's guess
        # then does not depend on how well its filter tracks the state.
        self.partner_head = zero_output(
            mlp(2 * cfg.hidden + self.num_actions, cfg.hidden, cfg.layers, self.num_actions)
        )

    # ------------------------------------------------------------ building
    @classmethod
    def for_env(cls, env: Any, cfg: WMConfig) -> WorldModel:
        """A fresh model of a batched env (its codec, actions, events and reward weights)."""
        weights = None
        if cfg.reward_head == "scalar":
            w = env.reward_weight_tensor(cfg.scalar_reward_weights)  # type: ignore[attr-defined]
            weights = w[0, 0].tolist()
        return cls(
            codec_for_env(env),
            env.num_actions,
            env.event_names,
            cfg,
            event_max_counts(env),
            weights,
        )

    def spec(self) -> dict[str, Any]:
        """Plain data that :meth:`from_spec` rebuilds this architecture from."""
        return {
            "codec": self.codec.spec(),
            "num_actions": self.num_actions,
            "event_names": list(self.event_names),
            "event_max_counts": list(self.event_max_counts),
            "scalar_weights": [float(w) for w in self.scalar_weights.tolist()],
            "config": self.cfg.to_dict(),
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> WorldModel:
        """Inverse of :meth:`spec` (``ValueError``/``ConfigError`` name a bad field)."""
        return cls(
            codec_from_spec(dict(spec["codec"])),
            int(spec["num_actions"]),
            list(spec["event_names"]),
            WMConfig.from_dict(dict(spec["config"])),
            list(spec["event_max_counts"]),
            list(spec["scalar_weights"]),
        )

    # ------------------------------------------------------------ features
    @property
    def feat_dim(self) -> int:
        """Width of :meth:`features`: ``deter + L * C``."""
        return self.rssm.feat_dim

    def features(self, state: State) -> Tensor:
        """``[B, deter + L*C]``: what actors and heads read."""
        return torch.cat([state["h"], state["z"]], -1)

    def initial(self, batch: int, device: torch.device | str = "cpu") -> State:
        return self.rssm.initial(batch, device)

    def embed(self, obs: Tensor) -> Tensor:
        """``[N, *obs_shape]`` -> ``[N, hidden]``."""
        return self.encoder(self.codec.encoder_input(obs))

    def predict(self, state: State) -> dict[str, Tensor]:
        """Head outputs of a state: expected ``events [B, 2, E]``, ``cont [B]`` probability,
        and ``reward [B]`` for the scalar variant."""
        out = {
            "events": self.event_head.mean(self.event_raw(state)),
            "cont": self.cont_head(self.head_input(state)).sigmoid(),
        }
        if self.reward_head is not None:
            out["reward"] = self.reward_head.mean(self.reward_head(self.head_input(state)))
        return out

    def head_input(self, state: State) -> Tensor:
        """``[features, joint action that led to the state]``: what the scalar heads read."""
        return torch.cat([self.features(state), state["a"]], -1)

    def event_raw(self, state: State) -> Tensor:
        views = [torch.cat([self.rssm.player_view(state, p), state["a"]], -1) for p in (0, 1)]
        return self.event_head(torch.stack(views, 1))

    # ----------------------------------------------------------- interfaces
    def observe(
        self,
        obs: Tensor,
        action: Tensor,
        is_first: Tensor,
        state: State | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[State, State]:
        """Filter a real sequence: ``(posteriors, priors)``, each a state of ``[T, B, ...]``
        tensors. ``state`` is the state before ``obs[0]`` (zero if ``None``)."""
        t_len, batch = obs.shape[:2]
        embed = self.embed(obs.reshape(t_len * batch, *obs.shape[2:])).view(t_len, batch, -1)
        return self._filter(embed, action, is_first, state, generator)

    def _filter(self, embed, action, is_first, state, generator) -> tuple[State, State]:
        t_len, batch = embed.shape[:2]
        state = state if state is not None else self.initial(batch, embed.device)
        posts, priors = [], []
        for t in range(t_len):
            state, prior = self.rssm.obs_step(state, action[t], embed[t], is_first[t], generator)
            posts.append(state)
            priors.append(prior)
        return _stack(posts), _stack(priors)

    def imagine(
        self,
        start: State,
        policies: Tensor | ImaginePolicy,
        horizon: int,
        generator: torch.Generator | None = None,
    ) -> dict[str, Any]:
        """Roll the prior forward ``horizon`` steps from ``start`` (e.g. a posterior).

        ``policies``: open-loop joint actions ``[horizon, B, 2]``, or a callable giving the
        joint action from the current features. Returns ``states`` (``[H, B, ...]`` priors
        after each action), ``features [H, B, F]``, ``actions [H, B, 2]``, expected
        ``events [H, B, 2, E]``, ``cont [H, B]`` (and ``reward [H, B]`` for the scalar head).
        """
        state, states, actions = start, [], []
        for k in range(horizon):
            if isinstance(policies, Tensor):
                act = policies[k]
            else:
                act = policies(self.features(state), state)
            state = self.rssm.img_step(state, act, generator)
            states.append(state)
            actions.append(act)
        stacked = _stack(states)
        flat = _flatten(stacked)
        preds = self.predict(flat)
        h_b = (horizon, start["h"].shape[0])
        out: dict[str, Any] = {
            "states": stacked,
            "features": self.features(flat).view(*h_b, -1),
            "actions": torch.stack(actions),
        }
        out.update({k: v.view(*h_b, *v.shape[1:]) for k, v in preds.items()})
        return out

    def loss(
        self, batch: dict[str, Tensor], generator: torch.Generator | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        """Model loss on a batch (module docstring): ``(total, metrics)``."""
        cfg = self.cfg
        t_len, b = batch["obs"].shape[:2]
        obs_flat = batch["obs"].reshape(t_len * b, *batch["obs"].shape[2:])
        embed = self.embed(obs_flat).view(t_len, b, -1)
        posts, priors = self._filter(embed, batch["action"], batch["is_first"], None, generator)
        flat = _flatten(posts)
        feat = self.features(flat)
        dec = self.codec.nll(self.decoder(feat), obs_flat).mean()
        events = batch["events"].reshape(t_len * b, 2, -1)
        ev = self.event_head.loss(self.event_raw(flat), events).mean()
        cont_target = batch["cont"].reshape(-1).float()
        cont = F.binary_cross_entropy_with_logits(
            self.cont_head(self.head_input(flat)), cont_target
        )
        post_logits, prior_logits = posts["logits"], priors["logits"]
        dyn = kl_categorical(post_logits.detach(), prior_logits).clamp_min(cfg.free_nats).mean()
        rep = kl_categorical(post_logits, prior_logits.detach()).clamp_min(cfg.free_nats).mean()
        partner = self._partner_loss(batch, embed)
        total = (
            cfg.decoder_scale * dec
            + cfg.event_scale * ev
            + cfg.cont_scale * cont
            + cfg.kl_dyn * dyn
            + cfg.kl_rep * rep
            + cfg.partner_scale * partner
        )
        metrics = {"dec": dec, "events": ev, "cont": cont, "kl_dyn": dyn, "kl_rep": rep,
                   "partner": partner}  # fmt: skip
        if self.reward_head is not None:
            team = (events * self.scalar_weights).sum((-1, -2))
            rew = self.reward_head.loss(self.reward_head(self.head_input(flat)), team).mean()
            total = total + rew
            metrics["reward"] = rew
        metrics = {k: float(v.detach()) for k, v in metrics.items()}
        metrics["total"] = float(total.detach())
        return total, metrics

    def kl_to(
        self,
        frozen: WorldModel,
        batch: dict[str, Tensor],
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``KL[frozen posterior || this posterior]`` per step, summed over latents, averaged
        over the batch: the penalty that keeps a fine-tuned model's latent space where the
        frozen agents were trained (XPM-WM phase 2). Both models filter the batch with the
        same latent noise (so a model is at KL 0 from its own copy); gradients reach this
        model only."""
        if generator is None:
            seed = int(torch.randint(2**62, (1,)))
            generator = torch.Generator(device=batch["obs"].device).manual_seed(seed)
        noise = generator.get_state()
        args = (batch["obs"], batch["action"], batch["is_first"], None, generator)
        with torch.no_grad():
            frozen_posts, _ = frozen.observe(*args)
        generator.set_state(noise)
        posts, _ = self.observe(*args)
        return kl_categorical(frozen_posts["logits"], posts["logits"]).mean()

    # ---------------------------------------------------------- partner
    def partner_logits(self, prev_embed: Tensor, own_action: Tensor, embed: Tensor) -> Tensor:
        """Logits of the partner's last action from the previous and the new observation's
        embeddings (:meth:`embed`) and the own last action (int64 ``[B]``)."""
        own = F.one_hot(own_action, self.num_actions).float()
        return self.partner_head(torch.cat([prev_embed, own, embed], -1))

    def _partner_loss(self, batch: dict[str, Tensor], embed: Tensor) -> Tensor:
        t_len = batch["obs"].shape[0]
        if t_len < 2:
            return embed.new_zeros(())
        action = batch["action"][1:].reshape(-1, 2)
        prev, new = embed[:-1].reshape(-1, embed.shape[-1]), embed[1:].reshape(-1, embed.shape[-1])
        logits = self.partner_logits(prev, action[:, 0], new)
        # steps that start an episode have no last action; a terminal step's guess is never
        # needed (the episode is over) and a quit looks like a stay
        valid = (~batch["is_first"][1:] & batch["cont"][1:].bool()).reshape(-1).float()
        nll = F.cross_entropy(logits, action[:, 1], reduction="none")
        return (nll * valid).sum() / valid.sum().clamp_min(1.0)


def event_max_counts(env: Any) -> list[int]:
    """Per event, the most it can count in one step for one player (1 = Bernoulli).

    Every event of the registered envs fires at most once per player and step (MPPMR by
    construction; Overcooked: one interaction per player and step), so all are Bernoulli;
    an env may declare ``event_max_counts`` to get count heads.
    """
    declared = getattr(env, "event_max_counts", None)
    return [int(k) for k in declared] if declared is not None else [1] * env.num_events


def _stack(states: list[State]) -> State:
    return {k: torch.stack([s[k] for s in states]) for k in states[0]}


def _flatten(state: State) -> State:
    return {k: v.reshape(-1, *v.shape[2:]) for k, v in state.items()}


def index_state(state: State, t: int | Tensor) -> State:
    """Step ``t`` of a ``[T, B, ...]`` state (e.g. a posterior start for :meth:`imagine`)."""
    return {k: v[t] for k, v in state.items()}
