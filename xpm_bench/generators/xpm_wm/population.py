"""XPM-WM's population file: world-model-feature members, the final model stored once, drift.

Every member is a small ``mlp`` actor over the features of the shared world model (member
field ``shared: "world_model"``; the model's spec and weights are in the population's
``shared`` section, format 2). Each member's ``info`` records its real SP return measured
through the final model and through the model it was trained with (the model as it was when
the member finished): ``drift = real_sp_trained_model - real_sp_final_model``, the loss the
KL penalty is meant to prevent. Those measurement episodes are real env steps the generator
takes, so they are counted in the ledger (kind ``sp``).
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from xpm_bench.agents.networks import build_network
from xpm_bench.agents.wm_actor import WMFeaturePolicy
from xpm_bench.generators.harness import Harness
from xpm_bench.population import Member, Population
from xpm_bench.rl.rollout import play_first_episodes
from xpm_bench.seeding import child_seed
from xpm_bench.wm.model import MODULE_NAME, WorldModel

DRIFT_EPISODES = 32
"""Real SP episodes per member and model for the drift entries."""


def feature_policy(
    model: WorldModel, arch: str, kwargs: dict, weights: dict, seed: int, device: Any
) -> WMFeaturePolicy:
    """A member's latent actor acting in the real env through ``model``'s filter."""
    net = build_network(arch, kwargs)
    net.load_state_dict(weights)
    return WMFeaturePolicy(model, net, seed=seed, device=device)


def measure_drift(
    harness: Harness,
    env_id: str,
    final: WorldModel,
    finished: list[dict[str, Any]],
    arch: str,
    kwargs: dict[str, Any],
    seed: int,
) -> list[dict[str, float]]:
    """Per member: mean real SP team return (sparse) through the final model and through its
    own training model, over :data:`DRIFT_EPISODES` episodes each (both seats pi_m)."""
    env = harness.make_env("xpm-wm-drift", env_id, DRIFT_EPISODES, kind="sp")
    sparse = env.reward_weight_tensor("sparse")
    own = copy.deepcopy(final).eval()
    out = []
    for index, member in enumerate(finished):
        own.load_state_dict(member["model"])
        row = {}
        for key, model in (("real_sp_final_model", final), ("real_sp_trained_model", own)):
            policy = feature_policy(model, arch, kwargs, member["actor"], child_seed(seed, 2000, index),
                             harness.device)  # fmt: skip
            seats = torch.zeros(DRIFT_EPISODES, 2, dtype=torch.int64, device=env.device)
            episodes = play_first_episodes(env, seats, [policy], child_seed(seed, 2001, index))
            team = torch.einsum("bpe,ipe->bi", episodes.events, sparse)[:, 0]
            row[key] = float(team.mean())
        row["drift"] = row["real_sp_trained_model"] - row["real_sp_final_model"]
        out.append(row)
    harness.close_env("xpm-wm-drift")
    return out


def build_population(
    env_id: str,
    method: str,
    config: dict[str, Any],
    seed: int,
    member_seeds: list[int],
    ledger: dict[str, Any],
    model: WorldModel,
    finished: list[dict[str, Any]],
    drift: list[dict[str, float]],
    arch: str,
    kwargs: dict[str, Any],
) -> Population:
    """The population file's content (see the module docstring)."""
    members = [
        Member(
            name=m["name"],
            arch=arch,
            arch_kwargs=dict(kwargs),
            state_dict=m["actor"],
            seed=m["seed"],
            info={**m["info"], **d},
            shared=MODULE_NAME,
        )
        for m, d in zip(finished, drift, strict=True)
    ]
    shared = {
        MODULE_NAME: {
            "module": MODULE_NAME,
            "spec": model.spec(),
            "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        }
    }
    return Population(
        env_id=env_id,
        method=method,
        config=config,
        seeds={"seed": int(seed), "members": [int(s) for s in member_seeds]},
        ledger=ledger,
        members=members,
        shared=shared,
    )
