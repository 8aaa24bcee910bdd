"""Populations whose members act on a shared world model (population format version 2)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import xpm_bench
from xpm_bench.agents.base import RandomPolicy
from xpm_bench.agents.networks import build_network
from xpm_bench.agents.scripted import mppmr_convention_agents
from xpm_bench.agents.wm_actor import WMFeaturePolicy
from xpm_bench.errors import PopulationFileError
from xpm_bench.evaluation.evaluate import evaluate_file
from xpm_bench.evaluation.protocol import get_protocol
from xpm_bench.population import (
    Member,
    Population,
    load_population,
    population_content_hash,
    save_population,
    shared_entry,
)
from xpm_bench.rollout import play_pairs
from xpm_bench.wm import WorldModel, preset

TINY = dataclasses.replace(get_protocol("MPPMR-v0", "smoke"), n_boot=50).with_ego_steps(4096)


def wm_population(model: WorldModel | None = None, members: int = 2) -> Population:
    torch.manual_seed(0)
    env = xpm_bench.make("MPPMR-v0", num_envs=1)
    model = model or WorldModel.for_env(env, preset("smoke"))
    kwargs = {"obs_shape": [model.feat_dim], "num_outputs": 6, "hidden": 32, "layers": 1}
    return Population(
        env_id="MPPMR-v0",
        method="hand-made",
        config={},
        seeds={"seed": 0},
        ledger=None,
        members=[
            Member(
                f"wm-{i}",
                "mlp",
                kwargs,
                build_network("mlp", kwargs).state_dict(),
                seed=i,
                shared="world_model",
            )  # fmt: skip
            for i in range(members)
        ],
        shared={"world_model": shared_entry(model)},
    )


def test_round_trip_keeps_the_shared_model_once_and_builds_feature_policies(tmp_path):
    pop = wm_population()
    path = save_population(pop, tmp_path / "pop.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["format_version"] == 2 and list(raw["shared"]) == ["world_model"]
    assert all(m["shared"] == "world_model" for m in raw["members"])
    back = load_population(path)
    assert population_content_hash(back) == population_content_hash(pop)
    model = back.shared_module("world_model")
    for key, value in pop.shared["world_model"]["state_dict"].items():
        assert torch.equal(model.state_dict()[key], value)
    policies = back.policies()
    assert all(isinstance(p, WMFeaturePolicy) for p in policies)
    assert back.observation_shape(back.members[0]) == (115,)


def test_plain_populations_are_still_written_as_version_1(tmp_path):
    pop = wm_population()
    pop.members = [dataclasses.replace(m, shared=None, arch_kwargs={
        **m.arch_kwargs, "obs_shape": [115]}) for m in pop.members]  # fmt: skip
    for m in pop.members:
        m.state_dict = build_network("mlp", m.arch_kwargs).state_dict()
    pop.shared = {}
    raw = torch.load(save_population(pop, tmp_path / "pop.pt"), weights_only=True)
    assert raw["format_version"] == 1 and "shared" not in raw["members"][0]


def test_feature_members_play_any_partner_and_restart_their_filter():
    pop = wm_population()
    me = pop.policies()[0]
    env = xpm_bench.make("MPPMR-v0", num_envs=1)
    scripted = next(iter(mppmr_convention_agents(env).values()))
    batch = play_pairs("MPPMR-v0", [(me, scripted), (RandomPolicy(6, 0), me)], episodes=3)
    assert batch.lengths.shape == (2, 3) and bool((batch.lengths >= 1).all())
    obs, _ = env.reset(seed=0)
    zero = me.reset_carry(1)
    me.reseed(1)
    a1, carry = me.act(obs[:, 0], zero)
    me.reseed(1)
    a2, _ = me.act(obs[:, 0], torch.zeros_like(carry))  # a zeroed carry is a new episode
    assert torch.equal(a1, a2) and not torch.equal(carry, zero)


def test_feature_members_evaluate_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("XPM_BENCH_CACHE", str(tmp_path / "cache"))
    path = save_population(wm_population(), tmp_path / "pop.pt")
    result = evaluate_file(path, protocol=TINY)
    assert result["population"]["pop_size"] == 2 and len(result["xp_matrix"]) == 2


def _saved(tmp_path, mutate) -> str:
    data = wm_population().to_dict()
    mutate(data)
    path = tmp_path / "bad.pt"
    torch.save(data, path)
    return str(path)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["shared"].clear(), r"'members\[0\]\.shared' names shared module"),
        (lambda d: d["shared"]["world_model"]["state_dict"].update(
            {"encoder.0.weight": torch.zeros(3, 3)}),
         r"'shared\.world_model\.state_dict\['encoder\.0\.weight'\]' has shape \(3, 3\)"),
        (lambda d: d["shared"]["world_model"]["spec"]["config"].update(deter=32),
         r"'shared\.world_model\.state_dict\[.*\]' has shape"),
        (lambda d: d["shared"]["world_model"]["state_dict"].pop("cont_head.net.0.weight"),
         r"'shared\.world_model\.state_dict' is missing 'cont_head\.net\.0\.weight'"),
        (lambda d: d["shared"]["world_model"].update(module="encoder"),
         r"'shared\.world_model\.module' is 'encoder'"),
        (lambda d: d["members"][1].update(shared="other"),
         r"'members\[1\]\.shared' names shared module 'other'"),
        (lambda d: d.update(format_version=1), r"needs format_version 2"),
    ],
)  # fmt: skip
def test_a_missing_or_altered_shared_module_is_refused_naming_the_field(tmp_path, mutate, field):
    with pytest.raises(PopulationFileError, match=field):
        load_population(_saved(tmp_path, mutate))


def test_a_member_that_does_not_fit_its_shared_model_is_refused(tmp_path):
    def shrink(d):
        kwargs = {**d["members"][0]["arch_kwargs"], "obs_shape": [10]}
        d["members"][0]["arch_kwargs"] = kwargs
        d["members"][0]["state_dict"] = build_network("mlp", kwargs).state_dict()

    with pytest.raises(PopulationFileError, match=r"'members\[0\]\.arch_kwargs\.obs_shape'"):
        load_population(_saved(tmp_path, shrink))


@torch.no_grad()
def test_the_partner_head_infers_the_partners_last_move(trained_mppmr):
    model, held = trained_mppmr
    env = xpm_bench.make("MPPMR-v0", num_envs=1)
    t_len = held["obs"].shape[0]
    embed = model.embed(held["obs"].flatten(0, 1)).view(t_len, -1, model.cfg.hidden)
    action = held["action"][1:].reshape(-1, 2)
    prev, new = embed[:-1].flatten(0, 1), embed[1:].flatten(0, 1)
    guess = model.partner_logits(prev, action[:, 0], new).argmax(-1)
    # a member needs the guess while the episode goes on (a quit ends it, looking like a stay)
    valid = ~held["is_first"][1:].reshape(-1) & held["cont"][1:].reshape(-1)
    # a guess is right when it has the real action's effect (a move into a wall = stay)
    n = env.layout.num_cells
    cell = held["obs"][:-1].reshape(-1, held["obs"].shape[-1])[:, n : 2 * n].argmax(-1)
    table = torch.as_tensor(env.layout.next_cell)
    same = (table[cell, guess] == table[cell, action[:, 1]]) & ((guess == 5) == (action[:, 1] == 5))
    accuracy = float(same[valid].float().mean())
    print("partner-action accuracy (by effect)", accuracy)
    assert t_len > 1 and accuracy >= 0.95
