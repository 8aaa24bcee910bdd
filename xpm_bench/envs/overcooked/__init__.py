"""Batched Overcooked (overcooked-ai 1.1.0 rule and the 2019 rule); see :mod:`.env`."""

from xpm_bench.envs.overcooked.env import OvercookedClassicEnv, OvercookedEnv
from xpm_bench.envs.overcooked.layout import layout_names, load_layout

__all__ = ["OvercookedClassicEnv", "OvercookedEnv", "layout_names", "load_layout"]
