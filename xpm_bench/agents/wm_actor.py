"""Members that act on world-model features: the real observation filtered by a shared model.

A population member with ``shared: "<name>"`` keeps only a small actor network over the
features ``[h, z]`` of the population's shared world model (stored once in the file's
``shared`` section, see ``docs/population_format.md``). At execution the member runs the
model's filter on what it sees, one step per ``act``::

    h_t, z_t = posterior(h_{t-1}, z_{t-1}, (own a_{t-1}, partner a_{t-1}), obs_t)

The model is conditioned on the joint action, but a member only sees its own observation.
**Choice: the member infers its partner's last action**, with the model's partner-action head
(inverse dynamics, trained with the model: ``p(a_partner | embed(obs_{t-1}), own a_{t-1},
embed(obs_t))``), and feeds the most likely action as the partner's one-hot. The policy
interface (``act(obs, carry)``) and every rollout engine, evaluator and wrapper stay as they
are, so the member plays with any partner: scripted, a BC human proxy, another population.
Where two partner actions have the same effect (a move into a wall and a stay), the head may
pick either; the model saw both during training and predicts the same next state.

The carry is one tensor ``[B, deter + L*C + hidden + A + 1]`` (state, last observation's
embedding, own last action, started flag).
All zeros means "episode start", so an engine that resets carries with :meth:`reset_carry`
(or zeroes them) restarts the filter.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from xpm_bench.agents.networks import sample_actions

Tensor = torch.Tensor


class WMFeaturePolicy:
    """A :class:`~xpm_bench.agents.base.Policy` whose actor reads shared world-model features.

    Args:
        model: the shared :class:`~xpm_bench.wm.model.WorldModel` (not trained here).
        actor: a network from ``ARCHITECTURES`` with ``obs_shape == [model.feat_dim]``.
        deterministic: argmax actions (latents are still sampled with the seeded generator).
    """

    recurrent = True

    def __init__(
        self,
        model: Any,
        actor: torch.nn.Module,
        deterministic: bool = False,
        seed: int = 0,
        device: str | torch.device = "cpu",
        name: str = "",
    ):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.actor = actor.to(self.device).eval()
        self.deterministic = deterministic
        self.name = name
        self.generator = torch.Generator(device=self.device).manual_seed(int(seed))
        rssm = self.model.rssm
        cfg = self.model.cfg
        self._sizes = [cfg.deter, rssm.stoch, cfg.hidden, self.model.num_actions, 1]

    def reseed(self, seed: int) -> None:
        """Make future sampled latents and actions a function of ``seed``."""
        self.generator.manual_seed(int(seed))

    def reset_carry(self, batch: int) -> Tensor:
        """The start-of-episode carry: all zeros."""
        return torch.zeros(batch, sum(self._sizes), device=self.device)

    @torch.no_grad()
    def act(self, obs: Tensor, carry: Tensor | None = None) -> tuple[Tensor, Tensor]:
        obs = obs.to(self.device)
        if carry is None:
            carry = self.reset_carry(obs.shape[0])
        h, z, prev_embed, own_prev, started = torch.split(carry, self._sizes, dim=-1)
        state = {"h": h, "z": z, "logits": torch.zeros(0)}
        model = self.model
        embed = model.embed(obs)
        is_first = started.squeeze(-1) < 0.5
        own = own_prev.argmax(-1)
        partner = model.partner_logits(prev_embed, own, embed).argmax(-1)
        post, _ = model.rssm.obs_step(
            state, torch.stack([own, partner], -1), embed, is_first, self.generator
        )
        logits, _ = self.actor(model.features(post))
        greedy = self.deterministic
        action = logits.argmax(-1) if greedy else sample_actions(logits, self.generator)
        own_hot = F.one_hot(action, model.num_actions).float()
        ones = torch.ones_like(started)
        return action, torch.cat([post["h"], post["z"].detach(), embed, own_hot, ones], -1)
