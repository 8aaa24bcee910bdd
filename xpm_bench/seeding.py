"""One seed in at the top; every child seed derived from it with ``numpy.random.SeedSequence``."""

from __future__ import annotations

import numpy as np
import torch

from xpm_bench.errors import ConfigError

# Seed ranges. Generators train from seeds below HOLDOUT_SEED_BASE; the self-play partners of
# the holdout sets use seeds from HOLDOUT_SEED_BASE on (so no generator run, default or not,
# can have trained them); evaluation root seeds start at EVAL_SEED_OFFSET.
HOLDOUT_SEED_BASE = 9 * 10**8
EVAL_SEED_OFFSET = 10**9


def spawn_seeds(seed: int, n: int) -> list[int]:
    """Return ``n`` independent 32-bit child seeds derived from ``seed``.

    The same ``(seed, n)`` always gives the same list, and the first ``k`` children do not
    depend on ``n``, so adding a member to a population never changes the earlier ones.
    """
    children = np.random.SeedSequence(seed).spawn(n)
    return [int(child.generate_state(1, dtype=np.uint32)[0]) for child in children]


def child_seed(seed: int, *path: int) -> int:
    """A seed for a named position in a seed tree, e.g. ``child_seed(seed, member, phase)``."""
    ss = np.random.SeedSequence(seed, spawn_key=tuple(path))
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator on ``device`` seeded with ``seed``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


def check_training_seed(seed: int, holdout: bool = False) -> int:
    """Reject a generator seed outside its range; returns ``seed`` unchanged.

    Generators take seeds in ``[0, HOLDOUT_SEED_BASE)``; ``holdout=True`` (the holdout sets'
    own partners) takes ``[HOLDOUT_SEED_BASE, EVAL_SEED_OFFSET)``.
    """
    low, high = (HOLDOUT_SEED_BASE, EVAL_SEED_OFFSET) if holdout else (0, HOLDOUT_SEED_BASE)
    if not low <= seed < high:
        raise ConfigError(
            f"training seed must be in [{low}, {high}) (seeds from {HOLDOUT_SEED_BASE} on are "
            f"reserved for holdout partners, from {EVAL_SEED_OFFSET} on for evaluation), "
            f"got {seed}"
        )
    return seed
