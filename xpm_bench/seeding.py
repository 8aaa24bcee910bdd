"""One seed in at the top; every child seed derived from it with ``numpy.random.SeedSequence``."""

from __future__ import annotations

import numpy as np
import torch


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
