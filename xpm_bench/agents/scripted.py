"""Scripted partners with known behaviour: the ground truth for tests and holdout sets."""

from __future__ import annotations

from xpm_bench.agents.base import CellTablePolicy, ConstantPolicy
from xpm_bench.envs.cmg import CMGEnv
from xpm_bench.envs.mppmr import MPPMREnv, convention_action_table


def mppmr_convention_agents(env: MPPMREnv) -> dict[tuple[int, int], CellTablePolicy]:
    """For every ``(landmark, lane)`` of ``env``, the agent that walks that lane to that
    landmark and waits there."""
    layout = env.layout
    return {
        (k, p): CellTablePolicy(
            convention_action_table(layout, k, p), layout.num_cells, name=f"landmark{k}-lane{p}"
        )
        for k in range(layout.n_landmarks)
        for p in range(layout.n_lanes)
    }


def cmg_convention_agents(env: CMGEnv) -> dict[int, ConstantPolicy]:
    """For every convention ``k`` of a CMG env, the agent that always picks ``k``."""
    return {k: ConstantPolicy(k) for k in range(env.n_conventions)}
