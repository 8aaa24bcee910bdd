"""``xpm-bench evaluate`` end to end: hand-built files, bad input, the result's contents."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import torch

from xpm_bench.agents.networks import build_network
from xpm_bench.errors import ConfigError, PopulationFileError
from xpm_bench.evaluation import holdout as ho
from xpm_bench.evaluation.evaluate import evaluate_file, interquartile_mean, shape_metrics
from xpm_bench.evaluation.protocol import get_protocol
from xpm_bench.io import write_json
from xpm_bench.registry import make

MLP = {"obs_shape": [115], "num_outputs": 6, "hidden": 16, "layers": 1, "gru": 0}
TINY = dataclasses.replace(get_protocol("MPPMR-v0", "smoke"), n_boot=50).with_ego_steps(4096)


def hand_built_population(
    path, members=2, ledger=True, obs_shape=None, env_id="MPPMR-v0", env_kwargs=None
):
    """A pop.pt built by hand exactly as docs/population_format.md shows."""
    torch.manual_seed(0)
    if obs_shape is None:
        obs_shape = make(env_id, **(env_kwargs or {})).observation_shape
    kwargs = {**MLP, "obs_shape": list(obs_shape)}
    data = {
        "format": "xpm-bench-population",
        "format_version": 1,
        "library_version": "0.1.0",
        "env_id": env_id,
        "env_kwargs": dict(env_kwargs or {}),
        "method": "hand-made",
        "config": {"note": "untrained MLPs"},
        "seeds": {"seed": 0},
        "ledger": {
            "env_steps": 1234,
            "env_steps_by_kind": {"sp": 1000, "xp": 234, "mp": 0},
            "imagined_steps": 99,
            "wall_clock_s": 1.5,
        }
        if ledger
        else None,
        "members": [
            {
                "name": f"m{i}",
                "arch": "mlp",
                "arch_kwargs": kwargs,
                "state_dict": build_network("mlp", kwargs).state_dict(),
                "seed": i,
                "info": {},
            }
            for i in range(members)
        ],
        "shared": {},
    }
    torch.save(data, path)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XPM_BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_hand_built_population_evaluates_end_to_end(tmp_path, cache):
    path = hand_built_population(tmp_path / "pop.pt", members=3)
    result = evaluate_file(path, protocol=TINY)
    assert result["env_id"] == "MPPMR-v0" and result["population"]["pop_size"] == 3
    assert result["population"]["hash"].startswith("sha256:")
    assert len(result["xp_matrix"]) == 3 and all(len(row) == 3 for row in result["xp_matrix"])
    assert result["sample_cost"] == {
        "env_steps": 1234,
        "env_steps_by_kind": {"sp": 1000, "xp": 234, "mp": 0},
        "imagined_steps": 99,
        "wall_clock_s": 1.5,
    }
    assert list(result["sample_cost"])[0] == "env_steps"
    assert set(result["ego"]["per_partner"]) == {
        f"landmark{k}-lane{p}" for k in range(4) for p in range(2)
    }
    assert result["ego"]["train_env_steps"] >= 4096
    assert result["holdout"]["hash"].startswith("sha256:")
    for name in ("sp_mean", "xp_mean", "self_sabotage_rate"):
        low, high = result["metrics"][name]["ci"]
        assert low <= result["metrics"][name]["value"] <= high
    json.dumps(result, allow_nan=False)  # strict JSON


def test_same_file_evaluated_twice_gives_identical_json(tmp_path, cache):
    """Ego training included: the two result files are identical once timings are dropped."""
    path = hand_built_population(tmp_path / "pop.pt")
    texts = []
    for run in range(2):
        result = evaluate_file(path, protocol=TINY, threads=1)
        assert set(result.pop("timings_s")) == {"holdout_s", "crossplay_s", "ego_s"}
        write_json(tmp_path / f"result{run}.json", result)
        texts.append((tmp_path / f"result{run}.json").read_text())
    assert texts[0] == texts[1]
    ego = json.loads(texts[0])["ego"]
    assert ego["train_env_steps"] >= 4096 and ego["per_partner"]


def test_the_result_records_the_ego_settings_in_full(tmp_path, cache):
    path = hand_built_population(tmp_path / "pop.pt")
    result = evaluate_file(path, protocol=TINY)
    settings = json.loads(json.dumps(TINY.ego))
    assert result["ego"]["config"] == settings == result["protocol"]["ego"]
    assert result["protocol"]["fingerprint"].startswith("sha256:")
    assert result["protocol"]["pinned"] is False  # TINY is an edited copy of smoke v1
    holdout = result["holdout"]
    assert holdout["recipe_fingerprint"] == ho.recipe_for("MPPMR-v0").fingerprint()
    assert "float rounding" in holdout["hash_comparison"] and result["skipped"] == []


def _no_episodes(*args, **kwargs):
    raise AssertionError("an episode was played before the checks finished")


def test_checks_fail_before_any_episode(tmp_path, cache, monkeypatch):
    import xpm_bench.evaluation.evaluate as ev

    monkeypatch.setattr(ev, "run_crossplay", _no_episodes)
    monkeypatch.setattr(ev, "build_holdout", _no_episodes)
    path = hand_built_population(tmp_path / "pop.pt", env_kwargs={"horizon": 20})
    with pytest.raises(ho.HoldoutError, match="no holdout set .* with \\{'horizon': 20\\}"):
        evaluate_file(path, protocol=TINY)
    plain = hand_built_population(tmp_path / "plain.pt")
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        evaluate_file(plain, protocol=TINY, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            evaluate_file(plain, protocol=TINY, device="cuda")
    bad_shaping = dataclasses.replace(
        TINY, ego={**TINY.ego, "event_shaping": [["landmark_9", 1.0]]}
    )
    with pytest.raises(ConfigError, match="'landmark_9' matches no event"):
        evaluate_file(plain, protocol=bad_shaping)
    incomplete = dataclasses.replace(TINY, ego={k: v for k, v in TINY.ego.items() if k != "gru"})
    with pytest.raises(ConfigError, match="missing field\\(s\\) gru"):
        evaluate_file(plain, protocol=incomplete)


def test_a_custom_layout_names_the_envs_with_holdouts(cli, tmp_path):
    path = hand_built_population(
        tmp_path / "pop.pt", env_id="Overcooked-v0", env_kwargs={"layout": "bottleneck"}
    )
    out = tmp_path / "result.json"
    result = cli("evaluate", str(path), "--protocol", "smoke", "--out", str(out))
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert "no holdout set is defined for 'Overcooked-v0'" in result.err
    assert "Overcooked-CrampedRoom-v0" in result.err and not out.exists()


def test_skip_holdout_scores_the_rest_and_says_what_was_skipped(tmp_path, cache, monkeypatch):
    import xpm_bench.evaluation.evaluate as ev

    monkeypatch.setattr(ev, "build_holdout", _no_episodes)
    path = hand_built_population(tmp_path / "pop.pt", env_kwargs={"horizon": 20})
    result = evaluate_file(path, protocol=TINY, skip_holdout=True)
    assert result["ego"] is None and result["holdout"] is None
    assert [part["part"] for part in result["skipped"]] == ["ego"]
    assert "skip_holdout" in result["skipped"][0]["reason"]
    assert len(result["xp_matrix"]) == 2 and result["env_kwargs"]["horizon"] == 20
    assert "sp_mean" in result["metrics"] and result["sample_cost"]["env_steps"] == 1234


def test_tests_never_touch_the_home_cache():
    root = Path(os.environ["XPM_BENCH_CACHE"])
    assert ho.default_cache_dir() == root / "holdout"
    assert Path.home() / ".cache" not in [root, *root.parents]


def test_population_without_ledger_is_scored_with_a_warning(tmp_path, cache):
    path = hand_built_population(tmp_path / "pop.pt", ledger=False)
    with pytest.warns(UserWarning, match="no sample-cost ledger"):
        result = evaluate_file(path, protocol=TINY.with_ego_steps(0))
    assert result["sample_cost"] is None and "no sample-cost ledger" in result["warnings"][0]


def test_population_for_another_env_is_rejected(tmp_path, cache):
    path = hand_built_population(tmp_path / "pop.pt", obs_shape=(99,))
    with pytest.raises(PopulationFileError, match="expects observations of shape \\(99,\\)"):
        evaluate_file(path, protocol=TINY)


def test_missing_file(tmp_path):
    with pytest.raises(PopulationFileError, match="not found"):
        evaluate_file(tmp_path / "nope.pt")


@pytest.mark.parametrize(
    "content", [b"", b"garbage", b"PK\x03\x04 truncated zip"], ids=["empty", "garbage", "truncated"]
)
def test_cli_bad_files_exit_2_and_write_nothing(tmp_path, cli, content):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    out = tmp_path / "result.json"
    result = cli("evaluate", str(bad), "--protocol", "smoke", "--out", str(out))
    assert result.code == 2, result.err
    assert len(result.err.strip().splitlines()) == 1 and "error:" in result.err
    assert not out.exists()


def test_cli_evaluate_writes_json_and_plots(tmp_path, cli):
    path = hand_built_population(tmp_path / "pop.pt")
    out, plots = tmp_path / "result.json", tmp_path / "plots"
    result = cli(
        "evaluate", str(path), "--protocol", "smoke", "--out", str(out), "--plots", str(plots)
    )
    assert result.code == 0, result.err
    data = json.loads(out.read_text())
    assert data["protocol"]["name"] == "smoke" and "xp_matrix" in data
    assert {p.name for p in plots.iterdir()} == {
        "xp_matrix.png",
        "holdout_returns.png",
        "event_profiles.png",
    }
    assert "cross-play" in result.out


def test_cli_render_writes_a_gif(tmp_path, cli):
    path = hand_built_population(tmp_path / "pop.pt")
    gif = tmp_path / "ep.gif"
    result = cli("render", str(path), "--pair", "0", "1", "--gif", str(gif))
    assert result.code == 0, result.err
    assert gif.read_bytes()[:6] == b"GIF89a"
    bad = cli("render", str(path), "--pair", "0", "5", "--gif", str(tmp_path / "x.gif"))
    assert bad.code == 2 and "out of range" in bad.err


def test_unknown_protocol(tmp_path, cli):
    path = hand_built_population(tmp_path / "pop.pt")
    result = cli("evaluate", str(path), "--protocol", "huge")
    assert result.code == 2 and "unknown protocol 'huge'" in result.err and "default" in result.err


def test_interquartile_mean_closed_form():
    assert interquartile_mean([1, 2, 3, 4]) == pytest.approx(2.5)
    assert interquartile_mean([0, 0, 10, 10, 10, 10, 100, 100]) == pytest.approx(10.0)
    assert interquartile_mean([5.0]) == 5.0


def test_shape_metrics_pairs_values_with_intervals():
    flat = {"sp_mean": 1.0, "sp_mean_ci": [0.9, 1.0], "num_members": 3, "xp_matrix": [[1]]}
    assert shape_metrics(flat) == {"sp_mean": {"value": 1.0, "ci": [0.9, 1.0]}, "num_members": 3}
