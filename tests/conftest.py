"""Shared test helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import pytest
import torch

# Tests run under xdist on 2 cores: one torch thread per worker. Training tests in particular
# are much slower with torch's thread pool under contention.
torch.set_num_threads(1)


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
