"""World-model settings: one frozen dataclass, a docstring per field, and named presets.

Defaults follow DreamerV3 (``docs/references.md`` section 5) where they carry over to small
two-player grids, scaled down so one update trains in a fraction of a second on 2 CPU cores.
``paper`` is the paper's latent layout at DreamerV3-S sizes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from xpm_bench.errors import ConfigError


@dataclass(frozen=True)
class WMConfig:
    """Sizes, loss weights and optimiser of the RSSM world model."""

    deter: int = 128
    """Size of the deterministic GRU state ``h``."""
    hidden: int = 128
    """Width of every MLP (encoder, decoder, heads, prior/posterior nets)."""
    layers: int = 2
    """Hidden layers of the encoder, decoder and head MLPs."""
    joint_latents: int = 12
    """Categoricals of the stochastic state shared by both players (the paper: 28 of 32;
    the ``paper`` preset)."""
    player_latents: int = 2
    """Categoricals owned by each player (the paper's 4 player-specific latents of 32 are read
    here as 2 per player: 28 + 2 x 2 = 32)."""
    classes: int = 16
    """Classes of every categorical latent (DreamerV3: 32; 8-32 train on a CPU)."""
    unimix: float = 0.01
    """Uniform mix into every latent categorical (DreamerV3's 1%)."""
    free_nats: float = 1.0
    """Free bits: each KL term is clipped below this many nats (summed over latents)."""
    kl_dyn: float = 0.5
    """Weight of KL[sg(posterior) || prior] (trains the prior)."""
    kl_rep: float = 0.1
    """Weight of KL[posterior || sg(prior)] (regularises the representation)."""
    decoder_scale: float = 1.0
    """Weight of the observation reconstruction loss."""
    event_scale: float = 1.0
    """Weight of the per-player event loss."""
    cont_scale: float = 1.0
    """Weight of the continuation loss."""
    partner_scale: float = 1.0
    """Weight of the partner-action (inverse dynamics) loss the members use at execution."""
    reward_head: str = "events"
    """``events``: per-player event vectors (any reward weights apply afterwards);
    ``scalar``: additionally a symlog two-hot head on one scalar team reward (the ablation)."""
    scalar_reward_weights: str = "sparse"
    """The env's named weight set the scalar reward head is trained on."""
    reward_bins: int = 41
    """Two-hot bins of the scalar reward head, evenly spaced in symlog space on [-20, 20]."""
    lr: float = 2e-3
    """Adam learning rate (measured on MPPMR, 1,000 updates: 12 + 2 x 2 latents of 16 classes
    at 2e-3 decode imagined observations better than 28 + 2 x 2 of 8 or 32 at 1e-3)."""
    adam_eps: float = 1e-8
    """Adam epsilon."""
    grad_clip: float = 100.0
    """Global gradient-norm clip."""
    batch_size: int = 16
    """Sequences per update."""
    seq_len: int = 16
    """Steps per training sequence."""
    rare_boost: float = 4.0
    """Replay sampling weight of a sequence holding a rare event, relative to 1 for others."""

    def __post_init__(self) -> None:
        for name in ("deter", "hidden", "joint_latents", "classes", "batch_size", "seq_len"):
            if getattr(self, name) < 1:
                raise ConfigError(f"WMConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.player_latents < 0 or self.layers < 0:
            raise ConfigError("WMConfig.player_latents and layers must be >= 0")
        if self.reward_head not in ("events", "scalar"):
            raise ConfigError(
                f"WMConfig.reward_head must be 'events' or 'scalar', got {self.reward_head!r}"
            )
        if not 0.0 <= self.unimix < 1.0:
            raise ConfigError(f"WMConfig.unimix must be in [0, 1), got {self.unimix}")

    @property
    def latents(self) -> int:
        """All categoricals: joint plus one block per player."""
        return self.joint_latents + 2 * self.player_latents

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WMConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown WMConfig field(s): {', '.join(unknown)}")
        return cls(**data)


PRESETS: dict[str, WMConfig] = {
    # test-sized: trains MPPMR to >= 0.99 next-step event accuracy in seconds
    "smoke": WMConfig(deter=64, hidden=64, joint_latents=6, player_latents=1, classes=8),
    "default": WMConfig(),
    # DreamerV3-S widths with the paper's 28 + 4 latent layout of 32 x 32 classes
    "paper": WMConfig(deter=512, hidden=512, joint_latents=28, classes=32, lr=1e-4, seq_len=64),
}


def preset(name: str, **overrides: Any) -> WMConfig:
    """A named preset with fields overridden."""
    if name not in PRESETS:
        raise ConfigError(f"unknown world-model preset {name!r}; accepted: {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides)
