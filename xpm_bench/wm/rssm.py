"""The recurrent state-space model (DreamerV3 family) with joint and per-player latents.

State at step t: a deterministic GRU state ``h`` and a stochastic ``z`` of
``L = joint + 2 x player`` categoricals of ``C`` classes (1% unimix). ``z`` is laid out as
``[joint | player 0 | player 1]``; in the model's ego-centric frame player 0 is the seat whose
observation is filtered (the "ego") and player 1 its partner.

- ``img_step(state, action)``: ``h' = GRU(h, [z, one-hot(a_own), one-hot(a_partner)])``, then
  the prior ``p(z' | h')``. The joint action enters as two one-hots (or a distribution over the
  partner's action, see :mod:`xpm_bench.agents.wm_actor`).
- ``obs_step(state, action, embed, is_first)``: the same transition (from a zero state where
  ``is_first``), then the posterior ``q(z' | h', embed)``.

Latents are sampled with straight-through gradients.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from xpm_bench.wm.codecs import mlp
from xpm_bench.wm.config import WMConfig

Tensor = torch.Tensor
State = dict[str, Tensor]
"""``{"h": [B, deter], "z": [B, L*C] one-hots, "logits": [B, L, C] unimixed log-probs,
"a": [B, 2A] the joint action that led to the state (two one-hots; zero at a start)}``."""


class RSSM(nn.Module):
    """Transition (prior) and representation (posterior) models."""

    def __init__(self, cfg: WMConfig, embed_dim: int, num_actions: int):
        super().__init__()
        self.cfg = cfg
        self.num_actions = int(num_actions)
        self.latents, self.classes = cfg.latents, cfg.classes
        self.stoch = self.latents * self.classes
        self.img_in = mlp(self.stoch + 2 * self.num_actions, cfg.hidden, 1)
        self.gru = nn.GRUCell(cfg.hidden, cfg.deter)
        self.prior_net = mlp(cfg.deter, cfg.hidden, 1, self.stoch)
        self.post_net = mlp(cfg.deter + embed_dim, cfg.hidden, 1, self.stoch)

    @property
    def feat_dim(self) -> int:
        return self.cfg.deter + self.stoch

    def initial(self, batch: int, device: torch.device | str = "cpu") -> State:
        """The zero state every episode starts from."""
        return {
            "h": torch.zeros(batch, self.cfg.deter, device=device),
            "z": torch.zeros(batch, self.stoch, device=device),
            "logits": torch.zeros(batch, self.latents, self.classes, device=device),
            "a": torch.zeros(batch, 2 * self.num_actions, device=device),
        }

    def action_input(self, action: Tensor) -> Tensor:
        """``[B, 2]`` int64 ego-first joint action -> ``[B, 2A]`` two one-hots. A float
        ``[B, 2, A]`` (a distribution per seat) passes through flattened."""
        if action.dtype.is_floating_point:
            return action.reshape(action.shape[0], 2 * self.num_actions)
        return F.one_hot(action, self.num_actions).float().reshape(action.shape[0], -1)

    def img_step(self, state: State, action: Tensor, generator: torch.Generator | None) -> State:
        """Prior state after ``action`` (the joint action taken in ``state``)."""
        a = self.action_input(action)
        h = self.gru(self.img_in(torch.cat([state["z"], a], -1)), state["h"])
        logits = self._logits(self.prior_net(h))
        return {"h": h, "z": self.sample(logits, generator), "logits": logits, "a": a}

    def obs_step(
        self,
        state: State,
        action: Tensor,
        embed: Tensor,
        is_first: Tensor,
        generator: torch.Generator | None,
    ) -> tuple[State, State]:
        """``(posterior, prior)`` at the step whose observation embeds to ``embed``;
        ``action`` led to it (ignored where ``is_first``, which starts from the zero state)."""
        keep = (~is_first).float().unsqueeze(-1)
        state = {"h": state["h"] * keep, "z": state["z"] * keep, "logits": state["logits"]}
        action = self.action_input(action) * keep
        x = self.img_in(torch.cat([state["z"], action], -1))
        h = self.gru(x, state["h"])
        prior_logits = self._logits(self.prior_net(h))
        post_logits = self._logits(self.post_net(torch.cat([h, embed], -1)))
        prior = {"h": h, "z": self.sample(prior_logits, generator), "logits": prior_logits,
                 "a": action}  # fmt: skip
        post = {"h": h, "z": self.sample(post_logits, generator), "logits": post_logits,
                "a": action}  # fmt: skip
        return post, prior

    def _logits(self, raw: Tensor) -> Tensor:
        # DreamerV3's unimix: 99% network, 1% uniform; returned as log-probabilities
        probs = raw.view(raw.shape[0], self.latents, self.classes).softmax(-1)
        mix = self.cfg.unimix
        return torch.log((1 - mix) * probs + mix / self.classes)

    def sample(self, logits: Tensor, generator: torch.Generator | None) -> Tensor:
        """One class per categorical (Gumbel-max), as straight-through one-hots ``[B, L*C]``."""
        u = torch.rand(logits.shape, generator=generator, device=logits.device)
        gumbel = -torch.log(-torch.log(u.clamp(1e-20, 1.0 - 1e-7)))
        index = (logits.detach() + gumbel).argmax(-1)
        hard = F.one_hot(index, self.classes).float()
        probs = logits.exp()
        return (hard + probs - probs.detach()).reshape(logits.shape[0], -1)

    def mode(self, logits: Tensor) -> Tensor:
        """The most likely class of every categorical as one-hots ``[B, L*C]``."""
        hard = F.one_hot(logits.argmax(-1), self.classes).float()
        return hard.reshape(logits.shape[0], -1)

    def player_view(self, state: State, player: int) -> Tensor:
        """``[h, z_joint, z_player]``: what player ``player``'s event head reads."""
        c, joint, own = self.classes, self.cfg.joint_latents, self.cfg.player_latents
        z = state["z"]
        start = (joint + player * own) * c
        return torch.cat([state["h"], z[:, : joint * c], z[:, start : start + own * c]], -1)


def kl_categorical(p_logits: Tensor, q_logits: Tensor) -> Tensor:
    """``KL[p || q]`` summed over the categoricals: ``[B, L, C]`` log-probs -> ``[B]``."""
    return (p_logits.exp() * (p_logits - q_logits)).sum((-1, -2))
