"""Sweeps end to end: local and Ray executors give the same results, a killed worker's job
resumes on rerun without touching finished jobs, failing jobs are retried then recorded.

One local Ray cluster of 2 CPUs serves the whole module (Ray takes seconds to start)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter

import pytest

from xpm_bench.generators import generator_names
from xpm_bench.sweep import (
    LocalExecutor,
    RayExecutor,
    Resources,
    parse_spec,
    run_sweep,
    write_report,
)
from xpm_bench.sweep.job import read_state
from xpm_bench.sweep.report import job_status
from xpm_bench.sweep.run import job_paths

# The smallest sweep that runs two jobs at once: tiny generation budgets, smoke evaluation.
TINY = """
name: tiny
methods: [sp]
envs: [MPPMR-v0]
pop_sizes: [1, 2]
seeds: [0]
preset: smoke
protocol: smoke
set: {sp: ["env_steps=4096", "num_envs=32", "rollout_steps=16"]}
"""
SMALL, BIG = "sp__MPPMR-v0__M1__s0", "sp__MPPMR-v0__M2__s0"
# one xdist worker runs the whole module, so the reference sweep and the cluster exist once
pytestmark = pytest.mark.xdist_group("sweep-run")


def results(out) -> dict[str, dict]:
    return {
        line["job"]: line
        for line in map(json.loads, (out / "results.jsonl").read_text().splitlines())
    }


def steps_of(ledger: dict) -> dict:
    return {k: v for k, v in ledger.items() if k != "wall_clock_s"}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("holdout-cache")


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory, cache):
    """The tiny sweep run by the local executor: the reference for the other tests."""
    out = tmp_path_factory.mktemp("local") / "sweep"
    outcome = run_sweep(parse_spec(TINY), out, LocalExecutor(), holdout_cache=cache)
    assert sorted(outcome.done) == [SMALL, BIG] and not outcome.failed
    write_report(out, n_boot=50)
    return out


@pytest.fixture(scope="module")
def ray_cluster():
    pytest.importorskip("ray")
    from xpm_bench.sweep.executors import init_ray

    ray = init_ray(num_cpus=2)
    yield ray
    ray.shutdown()


def assert_same_results(local_dir, ray_dir) -> dict[str, dict]:
    """The two sweeps' results agree job by job; returns the local ones."""
    local, ray = results(local_dir), results(ray_dir)
    assert sorted(local) == sorted(ray)
    for job, a in local.items():
        b = ray[job]
        assert a["population"]["content_hash"] == b["population"]["content_hash"], job
        assert a["metrics"] == b["metrics"] and a["ego"] == b["ego"], job
        assert steps_of(a["ledger"]) == steps_of(b["ledger"]), job
        # the Ray jobs really ran in worker processes
        assert read_state(job_paths(local_dir, job))["pid"] == os.getpid()
        assert read_state(job_paths(ray_dir, job))["pid"] != os.getpid()
    return local


def test_ray_executor_gives_the_local_results(local_sweep, ray_cluster, cache, tmp_path):
    out = tmp_path / "ray"
    outcome = run_sweep(parse_spec(TINY), out, RayExecutor(), holdout_cache=cache)
    assert sorted(outcome.done) == [SMALL, BIG]
    write_report(out, n_boot=50)
    local = assert_same_results(local_sweep, out)
    assert sorted(local) == [SMALL, BIG]
    assert local[BIG]["ledger"]["env_steps"] == 2 * local[SMALL]["ledger"]["env_steps"] == 8192
    assert local[SMALL]["population"]["content_hash"] != local[BIG]["population"]["content_hash"]


@pytest.mark.slow  # smoke presets: minutes
def test_four_smoke_jobs_agree_on_both_executors(ray_cluster, cache, tmp_path):
    # two methods x two sizes; while only one generator is registered, two seeds instead
    methods = generator_names()[:2]
    seeds = "[0]" if len(methods) == 2 else "[0, 1]"
    text = (
        f"name: four\nmethods: [{', '.join(methods)}]\nenvs: [MPPMR-v0]\npop_sizes: [1, 2]\n"
        f"seeds: {seeds}\npreset: smoke\nprotocol: smoke\n"
    )
    spec = parse_spec(text)
    assert len(spec.jobs()) == 4
    for name, executor in (("local", LocalExecutor()), ("ray", RayExecutor())):
        outcome = run_sweep(spec, tmp_path / name, executor, holdout_cache=cache)
        assert len(outcome.done) == 4 and not outcome.failed
        write_report(tmp_path / name, n_boot=50)
    assert len(assert_same_results(tmp_path / "local", tmp_path / "ray")) == 4


def _snapshot(paths):
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in paths.root.rglob("*") if p.is_file()}


@pytest.mark.slow  # two more sweeps (about 20 s on a quiet 2-core machine, minutes under load)
def test_a_killed_worker_s_job_resumes_on_rerun(local_sweep, ray_cluster, cache, tmp_path):
    out = tmp_path / "killed"
    spec = parse_spec(TINY)
    # checkpoint at every update; no retries, so the kill is recorded and the rerun resumes
    run = dict(retries=0, checkpoint_interval_s=0, holdout_cache=cache)
    outcomes = []
    driver = threading.Thread(
        target=lambda: outcomes.append(run_sweep(spec, out, RayExecutor(), **run))
    )
    driver.start()
    big = job_paths(out, BIG)
    deadline = time.monotonic() + 240
    while not ((big.run_dir / "checkpoint.pt").exists() and read_state(big).get("pid")):
        assert time.monotonic() < deadline and driver.is_alive(), "the job never checkpointed"
        time.sleep(0.05)
    assert not big.population.exists()  # mid-generation
    os.kill(read_state(big)["pid"], signal.SIGKILL)
    driver.join(timeout=300)
    first = outcomes[0]
    assert first.done == [SMALL] and list(first.failed) == [BIG]
    assert "worker" in first.failed[BIG] and read_state(big)["status"] == "failed"
    assert (big.run_dir / "checkpoint.pt").exists()

    small = job_paths(out, SMALL)
    before = _snapshot(small)
    second = run_sweep(spec, out, RayExecutor(), **run)
    assert second.skipped == [SMALL] and second.done == [BIG]
    assert _snapshot(small) == before  # the finished job was not rerun
    state = read_state(big)
    assert state["status"] == "done" and state["attempts"] == 2
    assert state["resumed_from_env_steps"] > 0  # it continued from the checkpoint
    write_report(out, n_boot=50)
    reference, resumed = results(local_sweep)[BIG], results(out)[BIG]
    assert steps_of(resumed["ledger"]) == steps_of(reference["ledger"])
    assert resumed["population"]["content_hash"] == reference["population"]["content_hash"]
    assert resumed["metrics"] == reference["metrics"]


def test_ray_executor_keeps_the_driver_s_order_beyond_capacity(ray_cluster):
    from xpm_bench.sweep.executors import _call_with_kwargs

    executor = RayExecutor()
    executor.start(Resources(num_cpus=2))  # the module's cluster holds one such job at a time
    for ticket in ("a", "b", "c"):
        executor.submit(ticket, _call_with_kwargs, (dict, {"x": 1}), Resources(num_cpus=2))
    assert executor.pending() == 3 and len(executor._refs) == 1
    finished = []
    while executor.pending():
        finished += [ticket for ticket, error in executor.wait(timeout_s=1.0) if error is None]
    assert finished == ["a", "b", "c"]


def test_ray_map_runs_calls_in_workers_in_order(ray_cluster):
    from xpm_bench.sweep.executors import ray_map

    assert ray_map(dict, [{"a": 1}, {"b": 2}, {"c": 3}]) == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert os.getpid() not in ray_map(os.getpid, [{}, {}])


def test_a_failing_job_is_retried_then_recorded(local_sweep, cache, tmp_path, monkeypatch):
    import xpm_bench.generators.run as run_module

    real = run_module.run_generation
    calls: Counter[int] = Counter()

    def flaky(method, env_id, pop_size, seed=0, **kwargs):
        calls[seed] += 1
        if seed == 1:
            raise RuntimeError("boom: this job always fails")
        if calls[seed] == 1:
            raise RuntimeError("transient failure")
        return real(method, env_id, pop_size, seed=seed, **kwargs)

    monkeypatch.setattr(run_module, "run_generation", flaky)
    spec = parse_spec(TINY.replace("pop_sizes: [1, 2]", "pop_sizes: [1]").replace("[0]", "[0, 1]"))
    out = tmp_path / "flaky"
    outcome = run_sweep(spec, out, LocalExecutor(), retries=2, holdout_cache=cache)
    failing = "sp__MPPMR-v0__M1__s1"
    assert calls == {0: 2, 1: 3}  # retried twice; the transient one succeeded on its second try
    assert outcome.done == [SMALL]
    assert outcome.failed == {failing: "RuntimeError: boom: this job always fails"}
    state = read_state(job_paths(out, failing))
    assert state["status"] == "failed" and state["attempts"] == 3
    assert "boom" in job_paths(out, failing).error_log.read_text()
    assert read_state(job_paths(out, SMALL))["attempts"] == 2
    rows = {row["job"]: row for row in job_status(out)}
    assert rows[failing]["status"] == "failed" and rows[SMALL]["status"] == "done"
    write_report(out, n_boot=50)
    assert list(results(out)) == [SMALL]
    assert (
        results(out)[SMALL]["population"]["content_hash"]
        == results(local_sweep)[SMALL]["population"]["content_hash"]
    )
    summary = (out / "summary.md").read_text()
    assert failing in summary and "boom: this job always fails" in summary


def test_cli_rerun_skips_finished_jobs_and_reports(local_sweep, cache, tmp_path, capsys, run_main):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    before = {p: p.stat().st_mtime_ns for p in (local_sweep / "jobs").rglob("*")}
    args = ["--out", str(local_sweep), "--holdout-cache", str(cache), "--quiet"]
    assert run_main("sweep", "run", str(spec), *args) == 0
    assert "0 jobs finished, 2 already done, 0 failed" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in (local_sweep / "jobs").rglob("*")} == before
    assert run_main("sweep", "status", str(local_sweep)) == 0
    out = capsys.readouterr().out
    assert SMALL in out and BIG in out and "2 done" in out
    assert run_main("sweep", "report", str(local_sweep), "--n-boot", "50") == 0
    summary = (local_sweep / "summary.md").read_text()
    assert "| sp       | 4,096 (n=1) | 8,192 (n=1) |" in summary  # real env steps, M=1 and 2
    assert "1.000 [1.000, 1.000]" in summary  # sp's steps grow exactly linearly in M
    for name in ("env_steps_vs_M.png", "sp_xp_vs_M.png"):
        assert (local_sweep / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
