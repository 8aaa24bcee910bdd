"""Shared test helpers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

# Tests run under xdist on 2 cores: one torch thread per worker. Training tests in particular
# are much slower with torch's thread pool under contention.
torch.set_num_threads(1)

CACHE_ENV_VAR = "XPM_BENCH_CACHE"
_cache_key = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """Point the xpm-bench cache at a directory of this test session, never the user's home.

    Set at configure time (before any test module is imported), so library code and every CLI
    subprocess a test starts see it. xdist workers inherit the controller's variable, so all
    workers of one run share one cache: a smoke holdout set is built once per run (builds
    take a file lock, see ``xpm_bench.evaluation.holdout.cache``), not once per worker.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # a worker: the controller already set the variable for the whole run
    root = Path(tempfile.mkdtemp(prefix="xpm-bench-test-cache-"))
    os.environ[CACHE_ENV_VAR] = str(root)
    config.stash[_cache_key] = root


def pytest_unconfigure(config: pytest.Config) -> None:
    root = config.stash.get(_cache_key, None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def smoke_holdout():
    """``smoke_holdout(env_id) -> (cache dir, set)``: the smoke-tier holdout set of ``env_id``
    from the session cache, built at most once per test run (all xdist workers share it)."""
    from xpm_bench.evaluation import holdout as ho

    def get(env_id: str):
        return ho.default_cache_dir(), ho.build_holdout(env_id, tier="smoke")

    return get


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Keep every test single-threaded even if an earlier one changed the setting."""
    torch.set_num_threads(1)
    yield


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*args: str, cwd: str | None = None, timeout: float = 300) -> CliResult:
    """Run ``python -m xpm_bench ARGS`` in a subprocess, as a user would."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, "-m", "xpm_bench", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli():
    return run_cli
