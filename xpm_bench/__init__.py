"""xpm-bench: generate and score populations of diverse cooperative partners.

import xpm_bench
env = xpm_bench.make("MPPMR-v0", num_envs=1024)      # batched torch env
penv = xpm_bench.make_parallel("MPPMR-v0")           # PettingZoo ParallelEnv
genv = xpm_bench.make_single_agent("MPPMR-v0", partner=policy)   # Gymnasium Env
venv = xpm_bench.make_vec("MPPMR-v0", 1024, partner=policy)      # Gymnasium VectorEnv
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


def make_vec(
    env_id: str,
    num_envs: int,
    partner: Any,
    seat: int | str = 0,
    device: str = "cpu",
    **kwargs: Any,
):
    """A Gymnasium ``VectorEnv`` of ``num_envs`` copies of ``env_id`` on the batched engine:
    the ego plays ``seat`` (0, 1 or ``"random"`` per episode) and ``partner`` (a policy, a
    list of policies or a population, one drawn per episode) the other seat inside the batch.
    Same-step autoreset; see :mod:`xpm_bench.envs.vector`. ``xpm_bench.envs.sb3.to_sb3``
    adapts it to Stable-Baselines3."""
    from xpm_bench.envs.vector import VectorView

    return VectorView(make(env_id, num_envs=num_envs, device=device, **kwargs), partner, seat)


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
    "make_vec",
    "register",
    "registered_ids",
    "spec",
]
