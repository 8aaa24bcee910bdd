"""xpm-bench: generate and score populations of diverse cooperative partners.

import xpm_bench
env = xpm_bench.make("MPPMR-v0", num_envs=1024)      # batched torch env
penv = xpm_bench.make_parallel("MPPMR-v0")           # PettingZoo ParallelEnv
genv = xpm_bench.make_single_agent("MPPMR-v0", partner=policy)   # Gymnasium Env
"""

from __future__ import annotations

from typing import Any

from xpm_bench.registry import make, register, registered_ids, spec

__version__ = "0.1.0"


def make_parallel(env_id: str, render_mode: str | None = None, **kwargs: Any):
    """A PettingZoo ``ParallelEnv`` over one copy of ``env_id`` (numpy observations)."""
    from xpm_bench.envs.wrappers import ParallelView

    return ParallelView(make(env_id, num_envs=1, **kwargs), render_mode=render_mode)


def make_single_agent(
    env_id: str, partner: Any, seat: int | str = 0, render_mode: str | None = None, **kwargs: Any
):
    """A Gymnasium ``Env`` for one seat of ``env_id``; ``partner`` plays the other seat.

    ``partner`` is a policy, a list of policies or a population (one member drawn per episode);
    ``seat`` is 0, 1 or ``"random"``.
    """
    from xpm_bench.envs.wrappers import SingleAgentView

    return SingleAgentView(
        make(env_id, num_envs=1, **kwargs), partner, seat=seat, render_mode=render_mode
    )


def load_population(path: str):
    """Read and validate a population file (``pop.pt``); see :mod:`xpm_bench.population`."""
    from xpm_bench.population import load_population as _load

    return _load(path)


__all__ = [
    "__version__",
    "load_population",
    "make",
    "make_parallel",
    "make_single_agent",
    "register",
    "registered_ids",
    "spec",
]
