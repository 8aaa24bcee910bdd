"""Smoke tests of the benchmark scripts: they run, and the JSON they write is well formed.

No wall-clock assertions: only structure, internal consistency (steps / seconds = steps/s,
whole batches counted) and the pass/fail logic of the targets on made-up numbers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"


def run_script(name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``benchmarks/<name>`` with this interpreter and this checkout on the path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, str(BENCH / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def load_script(name: str):
    """Import a benchmark script as a module (its directory on sys.path for ``_common``)."""
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), BENCH / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_timing_row(row: dict, batch: int) -> None:
    assert row["status"] == "ok", row
    assert row["steps"] > 0 and row["steps"] % batch == 0  # whole batched steps only
    assert row["steps_per_s"] == pytest.approx(row["steps"] / row["seconds"])
    assert row["peak_rss_mb"] > 0


def test_env_throughput_quick_writes_expected_json(tmp_path):
    out = tmp_path / "env.json"
    proc = run_script(
        "env_throughput.py", "--quick", "--device", "cpu", "--batch-sizes", "1,64",
        "--seconds", "0.05", "--out", str(out),
    )  # fmt: skip
    report = json.loads(out.read_text())
    assert {"benchmark", "env_id", "created", "machine", "settings", "results"} <= set(report)
    assert report["env_id"] == "MPPMR-v0"
    assert report["machine"]["cpu_count"] >= 1
    assert report["machine"]["versions"]["torch"]
    assert [(r["device"], r["batch_size"]) for r in report["results"]] == [("cpu", 1), ("cpu", 64)]
    for row in report["results"]:
        check_timing_row(row, row["batch_size"])
        assert row["observation_shape"] == [115]  # MPPMR-v0 defaults: 2 x 57 cells + time
    assert "steps/s" in proc.stdout


def test_overcooked_reference_runs_and_missing_systems_are_reported(tmp_path):
    import xpm_bench

    out = tmp_path / "oc.json"
    run_script(
        "overcooked_throughput.py", "--quick", "--systems", "reference,ours-classic",
        "--layouts", "cramped_room", "--batch-sizes", "1", "--seconds", "0.05",
        "--out", str(out),
    )  # fmt: skip
    report = json.loads(out.read_text())
    assert {"machine", "settings", "results", "comparisons", "targets"} <= set(report)
    by_system = {row["system"]: row for row in report["results"]}
    reference = by_system["reference"]
    assert reference["batch_size"] is None  # measured once, serves every B
    check_timing_row(reference, 1)
    assert reference["steps_per_s_without_obs"] > 0
    ours = by_system["ours-classic"]
    registered = "OvercookedClassic-CrampedRoom-v0" in xpm_bench.registered_ids()
    assert ours["status"] == ("ok" if registered else "not available")
    (comparison,) = report["comparisons"]
    assert comparison["reference_steps_per_s"] == reference["steps_per_s"]


def test_targets_pass_fail_and_missing():
    bench = load_script("overcooked_throughput.py")
    args = bench.parse_args(["--layouts", "cramped_room", "--batch-sizes", "1024,8192"])
    layout = "cramped_room"

    def row(system, batch, value):
        return {"layout": layout, "system": system, "batch_size": batch, "status": "ok",
                "steps_per_s": value, "peak_rss_mb": 1.0}  # fmt: skip

    rows = [
        row("reference", None, 1_000.0),
        row("ours", 1024, 40_000.0),  # 40x the reference: below the 50x target
        row("ours-classic", 8192, 3_000_000.0),
        row("jaxmarl", 8192, 2_000_000.0),  # 1.5x: passes
        {"layout": layout, "system": "jaxmarl", "batch_size": 1024, "status": "not available"},
    ]
    comparisons = bench.build_comparisons(args, rows)
    targets = {t["target"]: t for t in bench.evaluate_targets(args, comparisons)}
    jax_target = targets["ours-classic >= 1.0x JaxMARL at B=8192"]
    ref_target = targets["ours >= 50x reference at B=1024"]
    assert jax_target["ratio"] == pytest.approx(1.5) and jax_target["passed"] is True
    assert ref_target["ratio"] == pytest.approx(40.0) and ref_target["passed"] is False
    at_1024 = next(c for c in comparisons if c["batch_size"] == 1024)
    assert at_1024["jaxmarl_steps_per_s"] is None and at_1024["ours-classic/jaxmarl"] is None
    assert at_1024["reference_steps_per_s"] == 1_000.0  # the one reference row serves every B


def test_bad_layout_is_rejected_with_accepted_names(capsys):
    bench = load_script("overcooked_throughput.py")
    with pytest.raises(SystemExit) as excinfo:
        bench.parse_args(["--layouts", "nowhere"])
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "cramped_room" in err


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jaxmarl") is None, reason="jaxmarl not installed")
def test_overcooked_jaxmarl_point_runs(tmp_path):
    out = tmp_path / "jx.json"
    run_script(
        "overcooked_throughput.py", "--quick", "--systems", "jaxmarl", "--layouts",
        "counter_circuit_o_1order", "--batch-sizes", "4", "--seconds", "0.05", "--out", str(out),
        timeout=300,
    )  # fmt: skip
    (row,) = json.loads(out.read_text())["results"]
    check_timing_row(row, 4)
    assert row["observation_shape"] == [5, 8, 26]  # JaxMARL: (height, width, channels)
    assert row["compile_s"] > 0


def test_ours_worker_path_times_a_registered_env():
    # The Overcooked script's "ours" worker is the generic torch-env worker; run it in-process
    # on MPPMR-v0 with the spec the script builds, so the path is covered before the
    # Overcooked engine is registered.
    bench = load_script("overcooked_throughput.py")
    args = bench.parse_args(["--quick", "--threads", "1", "--seconds", "0.05"])
    spec = bench.worker_spec(args, "ours-classic", "cramped_room", 8)
    assert spec["env_id"] == "OvercookedClassic-CrampedRoom-v0"
    spec["env_id"] = "MPPMR-v0"
    result = bench.common.measure_torch_env(spec)
    check_timing_row(result, 8)
    spec["env_id"] = "NoSuchEnv-v0"
    assert bench.common.measure_torch_env(spec)["status"] == "not available"


def test_diagnostic_systems_are_accepted_and_skip_observations_only_when_asked():
    bench = load_script("overcooked_throughput.py")
    args = bench.parse_args(["--systems", "ours-classic-noobs,jaxmarl-noobs,jaxmarl-noreset"])
    assert args.systems == ["ours-classic-noobs", "jaxmarl-noobs", "jaxmarl-noreset"]
    noobs = bench.worker_spec(args, "ours-classic-noobs", "cramped_room", 8)
    assert noobs["env_id"] == "OvercookedClassic-CrampedRoom-v0" and noobs["skip_obs"]
    assert not bench.worker_spec(args, "ours-classic", "cramped_room", 8)["skip_obs"]
    assert bench.worker_spec(args, "jaxmarl-noobs", "cramped_room", 8)["jaxmarl_layout"]
    # the worker runs with the encoder replaced by a fixed buffer
    noobs.update(threads=1, min_seconds=0.05, warmup_steps=2)
    assert bench.common.measure_torch_env(noobs)["status"] == "ok"


@pytest.mark.slow  # ten worker processes; the default suite runs the views in-process below
def test_single_copy_speed_quick_writes_expected_json(tmp_path):
    out = tmp_path / "single.json"
    run_script(
        "single_copy_speed.py", "--quick", "--env-ids", "MPPMR-v0", "--batch-sizes", "16",
        "--seconds", "0.05", "--skip-compile", "--out", str(out), timeout=300,
    )  # fmt: skip
    report = json.loads(out.read_text())
    assert report["machine"]["load_average_1min"] is not None
    single = report["results"]["single_copy"]
    assert {(r["backend"], r["view"]) for r in single} == {
        (b, v)
        for b in ("torch", "numba")
        for v in ("engine", "parallel", "single_idle", "single_random")
    }
    for row in single:
        check_timing_row({"peak_rss_mb": 1.0, **row}, 1)
    batches = report["results"]["batches"]
    assert [(r["backend"], r["batch_size"]) for r in batches] == [("torch", 16), ("numba", 16)]
    for row in batches:
        check_timing_row(row, 16)
    assert set(report["summary"]["numba_over_torch"]) == {"MPPMR-v0 B=1", "MPPMR-v0 B=16"}


def test_single_copy_speed_summary_targets_and_crossover():
    bench = load_script("single_copy_speed.py")
    env = "OvercookedClassic-CrampedRoom-v0"
    ref_env = "Overcooked-CrampedRoom-v0"
    args = bench.parse_args(["--env-ids", f"{ref_env},{env}", "--batch-sizes", "16,1024"])

    def engine(env_id, backend, batch, value):
        return {"kind": "engine", "env_id": env_id, "backend": backend, "batch_size": batch,
                "view": "engine" if batch == 1 else None, "status": "ok", "steps_per_s": value}  # fmt: skip

    single = [{"kind": "reference", "status": "ok", "steps_per_s": 10_000.0}]
    single += [
        engine(e, b, 1, 50_000.0 if b == "numba" else 1_000.0)
        for e in (env, ref_env)
        for b in ("torch", "numba")
    ]
    single += [
        {"kind": "view", "env_id": ref_env, "backend": "numba", "view": "parallel", "status": "ok", "steps_per_s": 20_000.0},
        {"kind": "view", "env_id": ref_env, "backend": "numba", "view": "single_idle", "status": "ok", "steps_per_s": 5_000.0},
    ]  # fmt: skip
    batches = [
        engine(env, "numba", 16, 150_000.0), engine(env, "torch", 16, 20_000.0),  # below 200k
        engine(env, "numba", 1024, 1e6), engine(env, "torch", 1024, 2e6),  # torch wins here
    ]  # fmt: skip
    summary = bench.summarise(args, {"single_copy": single, "batches": batches, "compile": []})
    assert summary["crossover"][env] == 1024
    assert summary["crossover"][ref_env] is None  # only B = 1 measured: numba faster there
    targets = {t["name"]: t for t in summary["targets"]}
    b16 = targets[f"{env} numba B=16 >= 200000 steps/s"]
    assert b16["value"] == 150_000.0 and b16["pass"] is False
    assert targets[f"{ref_env} parallel (numba) >= reference"]["pass"] is True
    idle = targets[f"{ref_env} single_idle (numba) >= reference"]
    assert idle["value"] == pytest.approx(0.5) and idle["pass"] is False
    assert summary["vs_reference"][f"{ref_env} numba engine"] == pytest.approx(5.0)


def test_single_copy_speed_view_workers_run_in_process():
    bench = load_script("single_copy_speed.py")
    for view in ("parallel", "single_idle", "single_random"):
        spec = {"env_id": "MPPMR-v0", "backend": "numba", "view": view, "threads": 1,
                "min_seconds": 0.02, "warmup_steps": 20, "seed": 0}  # fmt: skip
        check_timing_row({"peak_rss_mb": 1.0, **bench.measure_view(spec)}, 1)


def test_xpm_wm_mppmr_ratios_compare_real_steps_at_the_same_size():
    bench = load_script("xpm_wm_mppmr.py")
    row = {"sp_mean": 1.0, "overrides": []}
    rows = [
        {**row, "method": "xpm-wm", "pop_size": 8, "real_env_steps": 100},
        {**row, "method": "lipo", "pop_size": 8, "real_env_steps": 1_000},
        {**row, "method": "comedi", "pop_size": 8, "real_env_steps": 450},
        {**row, "method": "comedi", "pop_size": 4, "real_env_steps": 7},
        {
            **row,
            "method": "xpm-wm",
            "pop_size": 4,
            "real_env_steps": 50,
            "overrides": ["kl_gamma=0"],
        },
    ]
    assert bench.ratios(rows, "xpm-wm") == {
        "lipo_over_xpm-wm_M8": 10.0,
        "comedi_over_xpm-wm_M8": 4.5,
    }
