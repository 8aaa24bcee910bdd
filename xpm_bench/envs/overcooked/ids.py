"""Entry points of the named-layout ids (``Overcooked-CrampedRoom-v0``, ...).

A named id fixes its layout, so its entry point takes no ``layout`` argument; the generic
ids ``Overcooked-v0`` / ``OvercookedClassic-v0`` take ``layout=<any shipped layout>``.
Attributes are built on first access: ``ids.Overcooked_CrampedRoom``,
``ids.OvercookedClassic_CounterCircuit``.
"""

from __future__ import annotations

from typing import Any

import torch

from xpm_bench.envs import OVERCOOKED_LAYOUTS, OVERCOOKED_RULES


def named_factory(family: str, variant: str) -> Any:
    """The entry point of ``<family>-<variant>-v0``: the env class with the layout fixed."""
    layout = OVERCOOKED_LAYOUTS[variant]

    def make_env(
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        horizon: int = 400,
        reward_weights: Any = "sparse",
        copy_obs: bool | None = None,
        backend: str = "auto",
    ):
        from xpm_bench.envs.overcooked.env import OvercookedClassicEnv, OvercookedEnv

        cls = OvercookedClassicEnv if family == "OvercookedClassic" else OvercookedEnv
        return cls(num_envs, device, layout, horizon, reward_weights, copy_obs, backend)

    make_env.__name__ = f"{family}_{variant}"
    make_env.__doc__ = f"{family} on layout {layout!r} (see xpm_bench.envs.overcooked.env)."
    return make_env


def __getattr__(name: str) -> Any:
    family, _, variant = name.partition("_")
    if family in OVERCOOKED_RULES and variant in OVERCOOKED_LAYOUTS:
        return named_factory(family, variant)
    raise AttributeError(name)
