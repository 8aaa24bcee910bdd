"""Holdout sets: content hash, cache round trip, safe loading, CLI."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from xpm_bench.agents.overcooked_scripted import OvercookedCook
from xpm_bench.errors import UnknownEnvError
from xpm_bench.evaluation import holdout as ho
from xpm_bench.evaluation.crossplay import run_crossplay


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(ho.CACHE_ENV_VAR, str(tmp_path / "root"))
    return tmp_path / "root" / "holdout"


def network_partner(scale: float = 1.0, dtype=torch.float32) -> ho.PartnerSpec:
    weights = {"w": (torch.arange(6, dtype=torch.float32).reshape(2, 3) * scale).to(dtype)}
    return ho.PartnerSpec("net", "sp-population", "some-net", {"hidden": 8}, weights)


def test_hash_is_stable_across_rebuilds(tmp_path):
    first = ho.build_holdout("MPPMR-v0", cache_dir=tmp_path / "a")
    again = ho.build_holdout("MPPMR-v0", cache_dir=tmp_path / "a", rebuild=True)
    elsewhere = ho.build_holdout("MPPMR-v0", cache_dir=tmp_path / "b")
    assert first.content_hash == again.content_hash == elsewhere.content_hash
    assert first.content_hash.startswith("sha256:") and len(first.content_hash) == 71
    assert len(first.partners) == 8


def test_hash_changes_when_a_partner_changes():
    base = ho.HoldoutSet("s", "MPPMR-v0", 1, (network_partner(),))
    changed_param = dataclasses.replace(
        base, partners=(dataclasses.replace(network_partner(), params={"hidden": 9}),)
    )
    changed_weights = dataclasses.replace(base, partners=(network_partner(scale=2.0),))
    changed_dtype = dataclasses.replace(base, partners=(network_partner(dtype=torch.float64),))
    changed_version = dataclasses.replace(base, version=2)
    hashes = {
        h.content_hash
        for h in (base, changed_param, changed_weights, changed_dtype, changed_version)
    }
    assert len(hashes) == 5
    assert ho.HoldoutSet("s", "MPPMR-v0", 1, (network_partner(),)).content_hash == base.content_hash


def test_cache_round_trip_keeps_weights_and_hash(tmp_path):
    holdout = ho.HoldoutSet("s", "MPPMR-v0", 3, (network_partner(),), description="d")
    path = ho.save_holdout(holdout, tmp_path / "x" / "s.pt")
    loaded = ho.load_holdout(path)
    assert loaded.content_hash == holdout.content_hash
    assert loaded.partners[0].params == {"hidden": 8}
    torch.testing.assert_close(loaded.partners[0].weights["w"], holdout.partners[0].weights["w"])
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind


def test_build_uses_the_cache_and_the_env_var(cache, monkeypatch):
    built = ho.build_holdout("MPPMR-v0")
    path = cache / "MPPMR-v0" / "mppmr-scripted-conventions-v2.pt"
    assert path.exists()

    def fail(self, env_id, context=None):
        raise AssertionError("the recipe ran although a cached set exists")

    monkeypatch.setattr(ho.HoldoutRecipe, "build", fail)
    assert ho.build_holdout("MPPMR-v0").content_hash == built.content_hash
    listed = ho.cached_holdouts()
    assert [(p, h.content_hash) for p, h in listed] == [(path, built.content_hash)]


def test_edited_or_unsafe_cache_files_are_rejected(tmp_path):
    holdout = ho.HoldoutSet("s", "MPPMR-v0", 1, (network_partner(),))
    data = holdout.to_dict()
    data["partners"][0]["params_json"] = '{"hidden": 99}'
    torch.save(data, tmp_path / "edited.pt")
    with pytest.raises(ho.HoldoutError, match="does not match"):
        ho.load_holdout(tmp_path / "edited.pt")
    torch.save({"anything": np.random.default_rng(0)}, tmp_path / "unsafe.pt")
    with pytest.raises(ho.HoldoutError, match="holdout cache .* refused"):
        ho.load_holdout(tmp_path / "unsafe.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a torch file")
    with pytest.raises(ho.HoldoutError, match="holdout cache .* (not a torch file|corrupt)"):
        ho.load_holdout(tmp_path / "garbage.pt")
    torch.save({"format_version": 1, "name": "s"}, tmp_path / "partial.pt")
    with pytest.raises(ho.HoldoutError, match="'env_id'"):
        ho.load_holdout(tmp_path / "partial.pt")


def test_mppmr_holdout_partners_play_the_known_conventions(tmp_path):
    holdout = ho.build_holdout("MPPMR-v0", cache_dir=tmp_path)
    names, policies = zip(*holdout.policies())
    result = run_crossplay("MPPMR-v0", list(policies), episodes=1, names=names)
    landmark = np.array([int(n[len("landmark")]) for n in names])
    np.testing.assert_array_equal(result.matrix(), landmark[:, None] == landmark[None, :])


@pytest.fixture(scope="module")
def cramped_smoke(smoke_holdout):
    """``(cache dir, set)``: the smoke-tier set of Overcooked-CrampedRoom-v0 (session cache)."""
    return smoke_holdout("Overcooked-CrampedRoom-v0")


def test_overcooked_smoke_holdout_has_every_partner_group(cramped_smoke, smoke_holdout):
    _, holdout = smoke_holdout("OvercookedClassic-CrampedRoom-v0")  # shared with the BC tests
    assert holdout.name == "overcooked-classic-holdout-smoke" and holdout.version == 4
    # the human proxy is tested in tests/evaluation/test_human_proxy.py
    assert holdout.partner_names == [
        "onion-cook",
        "plate-cook",
        "full-cook",
        "bc-human-proxy",
        "sp-holdout-0",
        "sp-holdout-1",
    ]
    policies = dict(holdout.policies())
    assert isinstance(policies["plate-cook"], OvercookedCook)
    assert policies["plate-cook"].role == "plate"
    sp = [p for p in holdout.partners if p.group == "sp-population"]
    assert [p.params["seed"] for p in sp] == ho.sp_holdout_seeds(2) == [9 * 10**8, 9 * 10**8 + 1]
    assert sp[0].params["preset"] == "smoke" and sp[0].builder == "net-policy"
    assert not torch.equal(sp[0].weights["head.weight"], sp[1].weights["head.weight"])
    # the partners play: both seats of one episode each against an idle-free scripted cook
    result = run_crossplay(
        "OvercookedClassic-CrampedRoom-v0",
        [policies["sp-holdout-0"], policies["full-cook"]],
        episodes=1,
        names=["sp-holdout-0", "full-cook"],
    )
    assert result.matrix().shape == (2, 2)
    _, other = cramped_smoke
    assert other.content_hash != holdout.content_hash  # the env id is part of the content


def test_trained_sp_partners_are_reused_when_the_set_is_rebuilt(cramped_smoke, monkeypatch):
    tmp_path, first = cramped_smoke
    runs = sorted(p.name for p in (tmp_path / "Overcooked-CrampedRoom-v0").rglob("seed*.pt"))
    assert runs == ["seed900000000.pt", "seed900000001.pt"]
    assert not list((tmp_path / "Overcooked-CrampedRoom-v0").rglob("*.run"))  # finished runs

    import xpm_bench.generators.run as run_module

    def fail(*args, **kwargs):
        raise AssertionError("a finished holdout partner was trained again")

    monkeypatch.setattr(run_module, "run_generation", fail)
    again = ho.build_holdout(
        "Overcooked-CrampedRoom-v0", cache_dir=tmp_path, tier="smoke", rebuild=True
    )
    assert again.content_hash == first.content_hash


def test_generators_refuse_the_holdout_seeds(cli, tmp_path):
    out = cli(
        "generate", "--method", "sp", "--env", "MPPMR-v0", "--preset", "smoke",
        "--pop-size", "1", "--seed", "900000001", "-o", str(tmp_path / "p.pt"),
    )  # fmt: skip
    assert out.code == 2
    assert "reserved for holdout partners" in out.err
    assert not (tmp_path / "p.pt").exists()


def test_unknown_envs_and_recipe_versions():
    with pytest.raises(ho.HoldoutError, match="families with one"):
        ho.recipe_for("Foo-v0")
    with pytest.raises(UnknownEnvError):
        ho.recipe_for("MPPMR-v7")  # the family is registered, this version is not
    with pytest.raises(UnknownEnvError):  # a typo of a registered family: suggestions
        ho.recipe_for("Overcooked-Random0-v0")
    current = ho.RECIPES[("MPPMR", "standard")]
    with pytest.raises(ValueError, match="higher version"):
        ho.register_recipe(dataclasses.replace(current, groups=()))
    with pytest.raises(ValueError, match="tier"):
        ho.register_recipe(dataclasses.replace(current, version=99, tier="huge"))
    with pytest.raises(ho.HoldoutError, match="unknown holdout tier"):
        ho.recipe_for("MPPMR-v0", "huge")
    with pytest.raises(ho.HoldoutError, match="needs builder"):
        ho.build_partner(network_partner(), "MPPMR-v0")


def run_main(*argv: str) -> int:
    """Exit code of ``xpm-bench ARGV`` run in-process."""
    from xpm_bench.cli.main import main

    try:
        main(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def test_cli_build_and_list(cache, capsys):
    assert run_main("holdout", "build", "MPPMR-v0") == 0
    out = capsys.readouterr().out
    expected = ho.build_holdout("MPPMR-v0").content_hash
    assert expected in out and "landmark3-lane1" in out and "written to" in out
    assert run_main("holdout", "build", "MPPMR-v0") == 0
    assert "loaded from" in capsys.readouterr().out
    assert run_main("holdout", "list") == 0
    out = capsys.readouterr().out
    assert "mppmr-scripted" in out and "Overcooked" in out
    assert run_main("holdout", "build", "Nope-v0") == 2
    assert "no holdout set" in capsys.readouterr().err


class _CrashOnThirdReport:
    """A progress sink that raises when the third update is reported: with a zero checkpoint
    interval the first two updates are checkpointed by then."""

    def __init__(self):
        self.updates = 0

    def start(self, total_steps, done_steps):
        pass

    def update(self, done_steps, metrics):
        self.updates += 1
        if self.updates == 3:
            raise RuntimeError("simulated crash")

    def stop(self):
        pass


def test_an_interrupted_sp_partner_resumes_to_the_same_set(tmp_path, cramped_smoke):
    from xpm_bench.generators.run import run_generation

    env_id = "Overcooked-CrampedRoom-v0"
    _, uninterrupted = cramped_smoke
    seed = ho.sp_holdout_seeds(1)[0]
    directory = tmp_path / "b" / env_id / "sp-holdout-smoke"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_generation(
            "sp", env_id, 1, seed=seed, preset="smoke", output=directory / f"seed{seed}.pt",
            run_dir=directory / f"seed{seed}.run", checkpoint_interval_s=0,
            progress=_CrashOnThirdReport(), threads=1, holdout_seed=True,
        )  # fmt: skip
    assert (directory / f"seed{seed}.run" / "checkpoint.pt").exists()
    assert not (directory / f"seed{seed}.pt").exists()
    lines: list[str] = []
    resumed = ho.build_holdout(
        env_id, cache_dir=tmp_path / "b", tier="smoke", progress=lines.append
    )
    assert resumed.content_hash == uninterrupted.content_hash
    assert any("training self-play partner 1" in line for line in lines)
    assert any("sp partner 0:" in line and "env steps" in line for line in lines)
    assert not (directory / f"seed{seed}.run").exists()  # finished runs leave no checkpoint
