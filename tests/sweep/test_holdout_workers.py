"""``holdout build --workers N``: self-play holdout partners trained as parallel Ray tasks give
the same holdout set as training them one after another."""

from __future__ import annotations

import re

import pytest


def test_workers_must_be_positive(run_main, capsys, tmp_path):
    code = run_main("holdout", "build", "MPPMR-v0", "--cache-dir", str(tmp_path), "--workers", "0")
    assert code == 2 and "--workers must be >= 1" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.slow  # trains the smoke tier's two Overcooked partners twice (minutes)
def test_parallel_build_gives_the_sequential_set(cli, tmp_path):
    pytest.importorskip("ray")
    env = "Overcooked-CrampedRoom-v0"
    hashes = []
    for workers in ("1", "2"):
        cache = tmp_path / f"workers{workers}"
        out = cli("holdout", "build", env, "--tier", "smoke", "--cache-dir", str(cache),
                  "--workers", workers, timeout=1200)  # fmt: skip
        assert out.code == 0, out.err
        hashes.append(re.search(r"content hash: (sha256:[0-9a-f]{64})", out.out).group(1))
        # Each partner run is built under a file lock that stays beside it (filelock keeps
        # the lock file on POSIX); the runs themselves are the .pt files.
        runs = sorted(p.name for p in (cache / env).rglob("seed*.pt"))
        assert runs == ["seed900000000.pt", "seed900000001.pt"]
    assert hashes[0] == hashes[1]
