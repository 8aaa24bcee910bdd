"""Sweep reports on a hand-made sweep folder: every cell against xpm_bench.stats computed here,
the fitted slope, the speed-up, failed jobs, and the results file."""

from __future__ import annotations

import json

import numpy as np

from xpm_bench.io import write_json
from xpm_bench.stats import iqm_ci
from xpm_bench.sweep.report import write_report
from xpm_bench.sweep.run import job_paths
from xpm_bench.sweep.spec import parse_spec

SPEC = """
name: hand
methods: [sp]
envs: [MPPMR-v0]
pop_sizes: [2, 4]
seeds: [0, 1, 2, 3]
preset: smoke
protocol: smoke
"""
SP = {(2, 0): 0.5, (2, 1): 0.9, (2, 2): 0.1, (2, 3): 0.7, (4, 0): 1.0, (4, 1): 0.8, (4, 2): 0.6}


def hand_made_sweep(out):
    spec = parse_spec(SPEC)
    write_json(out / "spec.json", spec.to_dict())
    for job in spec.jobs():
        paths = job_paths(out, job)
        write_json(paths.job, job.to_dict())
        key = (job.pop_size, job.seed)
        if key not in SP:  # M=4, seed 3 failed
            write_json(paths.state, {"status": "failed", "attempts": 3, "error": "OSError: disk"})
            continue
        # env steps: 1000 * M^1.5 exactly, so the fitted slope is 1.5 with no spread
        steps = int(1000 * job.pop_size**1.5)
        write_json(paths.state, {"status": "done", "attempts": 1, "wall_s": 30.0,
                                 "population_hash": f"sha256:{key}"})  # fmt: skip
        write_json(
            paths.result,
            {
                "population": {"hash": f"sha256:file{key}"},
                "sample_cost": {"env_steps": steps, "wall_clock_s": 10.0},
                "metrics": {"sp_mean": {"value": SP[key], "ci": [0, 1]}, "xp_mean": None},
                "ego": {"mean_return": 0.25},
                "protocol": {"version": 1},
                "holdout": {"name": "h", "version": 2, "hash": "sha256:h", "partners": []},
            },
        )
    write_json(out / "invocations.json", [{"wall_s": 70.0, "executor": {"executor": "ray"}}])
    return spec


def test_report_cells_slope_speedup_and_failures(tmp_path):
    hand_made_sweep(tmp_path)
    written = write_report(tmp_path, n_boot=500, seed=1)
    assert {p.name for p in written} == {
        "results.jsonl", "summary.md", "env_steps_vs_M.png", "sp_xp_vs_M.png"
    }  # fmt: skip
    lines = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [(x["pop_size"], x["seed"]) for x in lines] == list(SP)  # spec order, finished only
    assert lines[0]["population"] == {
        "content_hash": "sha256:(2, 0)",
        "file_hash": "sha256:file(2, 0)",
    }
    summary = (tmp_path / "summary.md").read_text()
    for m in (2, 4):
        values = [v for (size, _), v in SP.items() if size == m]
        ci = iqm_ci([values], n_boot=500, seed=1)
        assert f"{ci.estimate:.3g} [{ci.low:.3g}, {ci.high:.3g}] (n={len(values)})" in summary
    assert "| sp       | 0.25 [0.25, 0.25] (n=4) | 0.25 [0.25, 0.25] (n=3) |" in summary
    assert "1.500 [1.500, 1.500]" in summary and "| 1,000 |" in summary
    # 7 finished jobs of 30 s each in a 70 s sweep
    assert "sum to 210 s, a speed-up of 3.00x" in summary
    assert "sp__MPPMR-v0__M4__s3" in summary and "OSError: disk" in summary
    assert "7 done" in summary and "1 failed" in summary
    assert "XP return" not in summary  # no finished job has a value for it
    assert np.isclose(
        iqm_ci([[0.5, 0.9, 0.1, 0.7]], n_boot=10).estimate, np.mean([0.5, 0.7])
    )  # n=4: the IQM is the mean of the middle two
