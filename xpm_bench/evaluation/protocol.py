"""Evaluation protocols: frozen, named, versioned settings that make results comparable.

A protocol holds everything besides the population that decides an evaluation's numbers:
episodes, seeds, metric settings, the holdout tier and the ego agent's full training
settings (budget, batching, network, reward shaping and PPO hyper-parameters), the latter as
literal data so that no default elsewhere in the code can change them. A result records its
protocol in full with its fingerprint (:func:`protocol_fingerprint`).

Two results are comparable exactly when their protocols' (family, name, version) agree, and
:data:`PINNED_FINGERPRINTS` keeps a version's content from changing: it holds the committed
fingerprint of every built-in (family, name, version), :func:`get_protocol` refuses a protocol
whose content no longer matches its pin, and the test suite checks every pin. Changing any
setting therefore means a new version and a new pin.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Any

from xpm_bench.errors import ConfigError
from xpm_bench.io import sha256_json
from xpm_bench.registry import env_family


@dataclass(frozen=True)
class Protocol:
    """How a population is scored.

    Attributes:
        name: preset name (``smoke`` for tests, ``default`` for reported numbers).
        version: bumped whenever any field's meaning or value changes.
        episodes: episodes per seat assignment in the cross-play matrix (and per holdout
            partner and seat for the ego).
        seed: evaluation seed index; the root seed is ``EVAL_SEED_OFFSET + seed``, disjoint
            from every training seed.
        tau: compatibility threshold: members i, j are linked when their mean XP is at least
            ``tau`` times their mean SP.
        n_boot: bootstrap resamples for confidence intervals (over episodes).
        alpha: 1 - confidence level of the intervals.
        ego: the ego agent's training settings, every field of
            :class:`~xpm_bench.rl.trainer.TrainConfig` as plain data (``env_steps`` is its
            budget in real env steps); ``None`` trains and scores no ego.
        max_pairs_per_batch: bound on seat assignments run in one batched env (memory).
        holdout_tier: which holdout recipe tier scores the ego (``standard`` for reported
            numbers; ``smoke`` sets train their partners with test-sized budgets).
    """

    name: str
    version: int
    episodes: int
    seed: int = 0
    tau: float = 0.5
    n_boot: int = 1000
    alpha: float = 0.05
    ego: dict[str, Any] | None = None
    max_pairs_per_batch: int | None = None
    holdout_tier: str = "standard"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def ego_env_steps(self) -> int:
        """The ego's training budget (0 without an ego)."""
        return int(self.ego["env_steps"]) if self.ego else 0

    def with_ego_steps(self, env_steps: int) -> Protocol:
        """A copy with the ego's budget changed (0: no ego). For experiments and tests: the
        copy keeps this protocol's name and version but no longer matches its pin."""
        if env_steps <= 0:
            return dataclasses.replace(self, ego=None)
        if self.ego is None:
            raise ConfigError(f"protocol {self.name!r} has no ego settings to give a budget")
        return dataclasses.replace(self, ego={**self.ego, "env_steps": int(env_steps)})

    def ego_config(self) -> Any:
        """The ego's :class:`~xpm_bench.rl.trainer.TrainConfig`, rebuilt strictly (every
        field given; a settings dict that no longer fits the trainer fails here, clearly)."""
        from xpm_bench.generators.config import config_from_dict
        from xpm_bench.rl.trainer import TrainConfig

        if self.ego is None:
            raise ConfigError(f"protocol {self.name!r} trains no ego")
        return config_from_dict(TrainConfig, dict(self.ego), strict=True)


# Keys a result's protocol record has besides the protocol's own fields.
RECORD_KEYS = ("family", "fingerprint", "pinned")


def protocol_from_record(record: dict[str, Any]) -> Protocol:
    """The :class:`Protocol` a result's ``protocol`` record (:func:`protocol_record`) holds."""
    fields = {k: v for k, v in record.items() if k not in RECORD_KEYS}
    return Protocol(**fields)


def protocol_record(env_id: str, protocol: Protocol) -> dict[str, Any]:
    """What a result records about its protocol: every field (as JSON data), the family,
    the fingerprint and whether it is the one pinned for the protocol's version."""
    import json

    family = env_family(env_id)
    fingerprint = protocol_fingerprint(family, protocol)
    record = {
        "family": family,
        **protocol.to_dict(),
        "fingerprint": fingerprint,
        "pinned": fingerprint == pinned_fingerprint(family, protocol),
    }
    return json.loads(json.dumps(record))


def protocol_fingerprint(family: str, protocol: Protocol) -> str:
    """``sha256:<hex>`` of the family and every field of ``protocol``."""
    return sha256_json({"family": family, **protocol.to_dict()})


# ------------------------------------------------------------------ ego settings
# The ego is a PPO best response to the population: each episode of each env copy draws one
# member and a seat. These were ``best_response_config`` in ``rl/trainer.py`` before the
# protocols pinned them.
_PPO = {
    "lr": 1e-3,
    "anneal_lr": True,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "clip": 0.2,
    "clip_value": True,
    "ent_coef": 0.01,
    "vf_coef": 0.5,
    "max_grad_norm": 0.5,
    "epochs": 4,
    "minibatches": 4,
    "norm_adv": True,
}
_NET = {"arch": "auto", "hidden": 64, "layers": 2, "channels": 25, "gru": 0}
# MPPMR: against a fixed partner the ego must find the partner's landmark; a quit penalty
# (annealed) keeps early episodes long enough to get there, and a higher entropy bonus keeps
# it from settling on the nearest landmark first (4 of 4 scripted conventions reached return
# >= 0.99 in testing).
_MPPMR_EGO = {
    "env_steps": 200_000,
    "num_envs": 128,
    "rollout_steps": 16,
    **_NET,
    "reward_set": "auto",
    "shaping_anneal_steps": 100_000,
    "event_shaping": (("quit", -0.1),),
    "ppo": {**_PPO, "ent_coef": 0.04},
}
# Overcooked (v2 of default, v3 of smoke): the sp generator's default settings since issue 9:
# JaxMARL IPPO's batch shape (16 envs x 128 steps, 4 epochs x 4 minibatches, 2x64 tanh MLP)
# and shaped reward, annealed over 2.5M steps, with clip 0.2, GAE 0.95 and lr 1e-3. Before:
# HiPT's settings (clip 0.05, GAE 0.98, potting shaping, 32 envs x 400 steps).
_OVERCOOKED_EGO = {
    "env_steps": 3_000_000,
    "num_envs": 16,
    "rollout_steps": 128,
    **_NET,
    "arch": "mlp",
    "reward_set": "shaped",
    "shaping_anneal_steps": 2_500_000,
    "event_shaping": (),
    "ppo": {**_PPO, "clip": 0.2, "gae_lambda": 0.95},
}


# CMG: a constant observation, so the ego's best response is the one convention that pays
# most on average over the population's members; one-step episodes, no shaping needed.
_CMG_EGO = {
    "env_steps": 20_480,
    "num_envs": 256,
    "rollout_steps": 4,
    **_NET,
    "reward_set": "sparse",
    "shaping_anneal_steps": 0,
    "event_shaping": (),
    "ppo": _PPO,
}


def _ego(base: dict[str, Any], env_steps: int) -> dict[str, Any]:
    return {**base, "env_steps": env_steps}


# Ego budgets per env family: an MPPMR best response converges within 200k steps; Overcooked
# needs millions for a competent ego (HiPT used ~10M), far beyond a CPU evaluation, so the
# default Overcooked budget is a fixed 2M steps (about 10 minutes on a 2-core CPU). Smoke
# budgets only exercise the code path.
PROTOCOLS: dict[tuple[str, str], Protocol] = {
    ("MPPMR", "smoke"): Protocol("smoke", 1, episodes=4, n_boot=200, ego=_ego(_MPPMR_EGO, 30_000)),
    ("MPPMR", "default"): Protocol("default", 1, episodes=32, ego=_ego(_MPPMR_EGO, 200_000)),
    ("CMG", "smoke"): Protocol("smoke", 1, episodes=16, n_boot=200, ego=_ego(_CMG_EGO, 4_096)),
    ("CMG", "default"): Protocol("default", 1, episodes=128, ego=_ego(_CMG_EGO, 20_480)),
    ("Overcooked", "smoke"): Protocol(
        "smoke",
        3,  # v2: the smoke holdout tier (v1 used the standard set); v3: issue 9's ego settings
        episodes=2,
        n_boot=200,
        ego=_ego(_OVERCOOKED_EGO, 25_600),
        max_pairs_per_batch=64,
        holdout_tier="smoke",
    ),
    ("Overcooked", "default"): Protocol(
        "default",
        2,  # v2: issue 9's ego settings (v1: HiPT's)
        episodes=8,
        ego=_ego(_OVERCOOKED_EGO, 2_000_000),
        max_pairs_per_batch=256,
    ),
}

# Committed fingerprints of the built-in protocols, per (family, name, version).
PINNED_FINGERPRINTS: dict[tuple[str, str, int], str] = {
    (
        "MPPMR",
        "smoke",
        1,
    ): "sha256:d1c5a5c78214aff88c5aec7291ffdf9949056481dbefd9c6d572401de8f5d5b0",
    (
        "MPPMR",
        "default",
        1,
    ): "sha256:ce632041b239ee93f7f8a6d7f57cb89239a1898c43c71d932e00f2e48e596984",
    ("CMG", "smoke", 1): "sha256:e58eebd1ce6aabe85fa0ff799ce36fb5a4799f731c486ddaa391709a57b4b6bf",
    (
        "CMG",
        "default",
        1,
    ): "sha256:db2fa106cff6aaac9b36471c4ab81c52b2d2e0d2d34ee15bbb32bb691753532d",
    (
        "Overcooked",
        "smoke",
        2,
    ): "sha256:f48d441e6cdbbf698776b6b16af3370277bbbf73fe072e34401294fad092650c",
    (
        "Overcooked",
        "default",
        1,
    ): "sha256:829d0fb8d0e0c16152923e66ee46e05c6e747ccece91b10174543b09b95dc322",
    (
        "Overcooked",
        "smoke",
        3,
    ): "sha256:f083e07e44bf946995b8ced4c4243e6d6374b97a1ba04203e8cd7b9b6ee30cb6",
    (
        "Overcooked",
        "default",
        2,
    ): "sha256:9ac40c3cf74cb681f5c3c82dc330336ae652a0c6a723ee4abceb30986beacf3c",
}


def pinned_fingerprint(family: str, protocol: Protocol) -> str | None:
    """The committed fingerprint of ``protocol``'s (family, name, version), if any."""
    return PINNED_FINGERPRINTS.get((family, protocol.name, protocol.version))


def check_pinned(family: str, protocol: Protocol) -> None:
    """Refuse a protocol whose content differs from the pin of its version."""
    pinned = pinned_fingerprint(family, protocol)
    actual = protocol_fingerprint(family, protocol)
    if pinned is not None and pinned != actual:
        raise ConfigError(
            f"protocol {family}/{protocol.name} v{protocol.version} has content {actual} but "
            f"version {protocol.version} is pinned to {pinned}: a change to a protocol needs "
            f"a new version (and a new pin)"
        )


def get_protocol(env_id: str, name: str) -> Protocol:
    """The protocol ``name`` for ``env_id``'s family; a clear error listing what exists."""
    family = env_family(env_id)
    key = (family, name)
    if key not in PROTOCOLS:
        names = sorted({n for f, n in PROTOCOLS if f == family})
        if not names:
            raise ConfigError(f"no evaluation protocol for environment family {family!r}")
        raise ConfigError(f"unknown protocol {name!r} for {family}; accepted: {', '.join(names)}")
    check_pinned(family, PROTOCOLS[key])
    return PROTOCOLS[key]
