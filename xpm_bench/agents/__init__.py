"""Policies: the shared interface, simple and scripted agents."""

from xpm_bench.agents.base import CellTablePolicy, ConstantPolicy, Policy, RandomPolicy

__all__ = ["CellTablePolicy", "ConstantPolicy", "Policy", "RandomPolicy"]
