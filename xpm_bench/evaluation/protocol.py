"""Evaluation protocols: frozen, named, versioned settings that make results comparable.

A result records its protocol's name, version and every field, so two results are comparable
exactly when those agree. Changing any number here means bumping ``version``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from xpm_bench.errors import ConfigError


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
        ego_env_steps: PPO budget of the ego agent trained against the population (real env
            steps); 0 skips ego training. The ego's other settings are
            ``xpm_bench.rl.trainer.best_response_config(env_id)``.
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
    ego_env_steps: int = 0
    max_pairs_per_batch: int | None = None
    holdout_tier: str = "standard"

    def to_dict(self) -> dict:
        return asdict(self)


# Ego budgets per env family: an MPPMR best response converges within 200k steps; Overcooked
# needs millions for a competent ego (HiPT used ~10M), far beyond a CPU evaluation, so the
# default Overcooked budget is a fixed 2M steps (about 10 minutes on a 2-core CPU). Smoke
# budgets only exercise the code path.
PROTOCOLS: dict[tuple[str, str], Protocol] = {
    ("MPPMR", "smoke"): Protocol("smoke", 1, episodes=4, n_boot=200, ego_env_steps=30_000),
    ("MPPMR", "default"): Protocol("default", 1, episodes=32, ego_env_steps=200_000),
    ("Overcooked", "smoke"): Protocol(
        "smoke",
        2,  # v2: the smoke holdout tier (v1 used the standard set)
        episodes=2,
        n_boot=200,
        ego_env_steps=25_600,
        max_pairs_per_batch=64,
        holdout_tier="smoke",
    ),
    ("Overcooked", "default"): Protocol(
        "default", 1, episodes=8, ego_env_steps=2_000_000, max_pairs_per_batch=256
    ),
}


def env_family(env_id: str) -> str:
    """``MPPMR`` or ``Overcooked`` (both cooking rules share the Overcooked protocols)."""
    return "Overcooked" if env_id.startswith("Overcooked") else env_id.split("-")[0]


def get_protocol(env_id: str, name: str) -> Protocol:
    """The protocol ``name`` for ``env_id``'s family; a clear error listing what exists."""
    family = env_family(env_id)
    key = (family, name)
    if key not in PROTOCOLS:
        names = sorted({n for f, n in PROTOCOLS if f == family})
        if not names:
            raise ConfigError(f"no evaluation protocol for environment family {family!r}")
        raise ConfigError(f"unknown protocol {name!r} for {family}; accepted: {', '.join(names)}")
    return PROTOCOLS[key]
