"""Protocol and holdout-recipe integrity: what decides a result's numbers is pinned per version.

Each built-in protocol and recipe has a committed fingerprint of its content per version. The
tests here fail when that content changes without a new version (and a new pin), and check
that the settings really come from the pinned data: editing the generator presets or the
trainer's defaults cannot move a protocol or a holdout set.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from xpm_bench.errors import ConfigError
from xpm_bench.evaluation import holdout as ho
from xpm_bench.evaluation import protocol as pr
from xpm_bench.generators import sp
from xpm_bench.generators.config import config_from_dict, config_to_dict

PROTOCOL_KEYS = sorted(pr.PROTOCOLS)
RECIPE_KEYS = sorted(ho.RECIPES)


@pytest.mark.parametrize("key", PROTOCOL_KEYS, ids="/".join)
def test_every_protocol_matches_its_pinned_fingerprint(key):
    family, name = key
    protocol = pr.PROTOCOLS[key]
    pinned = pr.PINNED_FINGERPRINTS.get((family, name, protocol.version))
    live = pr.protocol_fingerprint(family, protocol)
    assert pinned == live, (
        f"protocol {family}/{name} v{protocol.version} changed (content {live}, pinned "
        f"{pinned}): give it a new version and pin its new fingerprint"
    )


@pytest.mark.parametrize("key", PROTOCOL_KEYS, ids="/".join)
def test_every_protocol_trains_its_ego_from_complete_settings(key):
    protocol = pr.PROTOCOLS[key]
    config = protocol.ego_config()  # strict: every TrainConfig field given, no defaults
    assert json.loads(json.dumps(config_to_dict(config))) == json.loads(json.dumps(protocol.ego))
    assert config.env_steps == protocol.ego_env_steps > 0


def test_changing_the_ego_settings_without_a_version_bump_fails(monkeypatch):
    key = ("MPPMR", "default")
    current = pr.PROTOCOLS[key]
    edited = dataclasses.replace(current, ego={**current.ego, "ppo": {**current.ego["ppo"]}})
    edited.ego["ppo"]["lr"] = 3e-4
    monkeypatch.setitem(pr.PROTOCOLS, key, edited)
    assert pr.protocol_fingerprint("MPPMR", edited) != pr.protocol_fingerprint("MPPMR", current)
    with pytest.raises(ConfigError, match="default v1 has content .* pinned to"):
        pr.get_protocol("MPPMR-v0", "default")
    # with a new version the edit is accepted at run time, and the pin test asks for a pin
    monkeypatch.setitem(pr.PROTOCOLS, key, dataclasses.replace(edited, version=2))
    assert pr.get_protocol("MPPMR-v0", "default").version == 2
    assert ("MPPMR", "default", 2) not in pr.PINNED_FINGERPRINTS


def test_pinned_settings_never_fall_back_on_defaults():
    from xpm_bench.rl.trainer import TrainConfig

    ego = pr.PROTOCOLS["MPPMR", "default"].ego
    without_gru = {k: v for k, v in ego.items() if k != "gru"}
    with pytest.raises(ConfigError, match="missing field\\(s\\) gru"):
        config_from_dict(TrainConfig, without_gru, strict=True)
    without_clip = {**ego, "ppo": {k: v for k, v in ego["ppo"].items() if k != "clip"}}
    with pytest.raises(ConfigError, match="missing field\\(s\\) clip"):
        config_from_dict(TrainConfig, without_clip, strict=True)


def test_a_result_records_its_protocol_and_pin():
    record = pr.protocol_record(
        "OvercookedClassic-CrampedRoom-v0", pr.PROTOCOLS["Overcooked", "smoke"]
    )
    assert record["family"] == "Overcooked" and record["pinned"] is True
    assert record["ego"]["reward_set"] == "shaped" and record["ego"]["ppo"]["clip"] == 0.2
    rebuilt = pr.protocol_from_record(record).ego_config()
    assert rebuilt == pr.PROTOCOLS["Overcooked", "smoke"].ego_config()
    tweaked = pr.PROTOCOLS["Overcooked", "smoke"].with_ego_steps(1000)
    assert pr.protocol_record("Overcooked-CrampedRoom-v0", tweaked)["pinned"] is False


# ------------------------------------------------------------------------ recipes
@pytest.mark.parametrize("key", RECIPE_KEYS, ids="/".join)
def test_every_recipe_matches_its_pinned_fingerprint(key):
    recipe = ho.RECIPES[key]
    pinned = ho.PINNED_FINGERPRINTS.get((recipe.family, recipe.tier, recipe.version))
    assert pinned == recipe.fingerprint(), (
        f"holdout recipe {recipe.name} v{recipe.version} changed (content "
        f"{recipe.fingerprint()}, pinned {pinned}): give it a new version and pin it"
    )


def _other_preset(name: str, env_id: str) -> sp.Config:
    """An sp preset unlike every real one (what a later edit of the presets might do)."""
    return dataclasses.replace(sp.Config(), env_steps=1234, hidden=17, arch="cnn")


class _Trained(Exception):
    """Raised by a stand-in for run_generation, carrying the config it was given."""


def test_editing_the_sp_presets_leaves_every_recipe_unchanged(monkeypatch, tmp_path):
    import xpm_bench.generators.run as run_module

    fingerprints = {key: recipe.fingerprint() for key, recipe in ho.RECIPES.items()}
    monkeypatch.setattr(sp, "preset", _other_preset)
    monkeypatch.setattr(sp, "_overcooked_preset", lambda name: _other_preset(name, ""))
    assert {key: recipe.fingerprint() for key, recipe in ho.RECIPES.items()} == fingerprints

    def capture(*args, **kwargs):
        raise _Trained(kwargs.get("config"), kwargs.get("preset"))

    monkeypatch.setattr(run_module, "run_generation", capture)
    context = ho.BuildContext(tmp_path)
    for tier in ho.TIERS:
        group = next(g for g in ho.RECIPES["Overcooked", tier].groups if g.build is ho.sp_partners)
        with pytest.raises(_Trained) as trained:
            group("Overcooked-CrampedRoom-v0", context)
        config, preset = trained.value.args
        assert preset is None  # no preset is read: the recipe hands over a whole config
        pinned = config_from_dict(sp.Config, dict(group.params["config"]), strict=True)
        assert config == pinned != _other_preset("default", "")


def test_changing_a_recipe_without_a_version_bump_fails(monkeypatch):
    key = ("Overcooked", "smoke")
    current = ho.RECIPES[key]
    groups = list(current.groups)
    sp_index = next(i for i, g in enumerate(groups) if g.build is ho.sp_partners)
    params = {**groups[sp_index].params, "members": 5}
    groups[sp_index] = dataclasses.replace(groups[sp_index], params=params)
    monkeypatch.setitem(ho.RECIPES, key, dataclasses.replace(current, groups=tuple(groups)))
    with pytest.raises(ho.HoldoutError, match="v4 .* pinned to"):
        ho.recipe_for("Overcooked-CrampedRoom-v0", "smoke")
