"""The study runner end to end on a smoke spec."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # benchmarks/ is scripts run from the repo root, not installed
from benchmarks.study import run  # noqa: E402

SPEC = """name: study-smoke
methods: [sp]
envs: [MPPMR-v0]
pop_sizes: [2]
seeds: [0]
preset: smoke
protocol: smoke
"""


@pytest.mark.slow  # trains and evaluates a smoke population: about 90 s on a loaded 2-core CPU
def test_runner_writes_the_line_with_unmetered_checks(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    args = [str(spec), "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "res")]
    assert run.main([*args, "--interval", "20000"]) == 0
    (line,) = run.read_lines(tmp_path / "res" / "study-smoke.jsonl")
    checks = line["target_checks"]
    assert [c["ledger"]["env_steps"] for c in checks] == sorted(
        c["ledger"]["env_steps"] for c in checks
    )
    assert checks[-1]["ledger"]["env_steps"] == line["ledger"]["env_steps"]  # nothing charged
    assert line["target"]["checks"] == len(checks) and line["target"]["eval_episodes"] > 0
    assert checks[0]["unmet"] == ["0 of 2 members finished"]
    if line["target"]["met"]:
        assert line["target"]["cost_env_steps"] == line["ledger"]["env_steps"]
    else:
        assert line["target"]["cost_env_steps"] == 2 * 1_000_000  # the MPPMR cap at M = 2
    capsys.readouterr()
    assert run.main(args) == 0 and "running" not in capsys.readouterr().out  # finished: skipped


def test_bad_spec_is_one_line_exit_2(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.replace("MPPMR-v0", "Nope-v0"))
    assert run.main([str(spec), "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Nope-v0" in err
    assert not list(tmp_path.glob("*.jsonl"))


@pytest.mark.parametrize("path", sorted((REPO / "benchmarks" / "study").glob("*.yaml")), ids=str)
def test_study_specs_load(path):
    """Every grid spec is a valid sweep spec against the live registries (methods present
    but not yet registered are registered in-process, as the runner does)."""
    run.register_present(run.spec_methods(path))
    spec = run.load_spec(path)
    assert spec.name.startswith("study-") and spec.name == f"study-{path.stem}"
