"""Leaderboard fixtures: one real evaluation per module under a tiny registered protocol."""

from __future__ import annotations

import json

import pytest
from lb_helpers import TINY, random_population

from xpm_bench.evaluation.protocol import PROTOCOLS


@pytest.fixture(scope="module")
def tiny_protocol():
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(PROTOCOLS, ("MPPMR", "tiny"), TINY)
        yield TINY


@pytest.fixture(scope="module")
def holdout_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XPM_BENCH_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, tiny_protocol, holdout_cache):
    """``(population path, result path, result)``: a 3-member hand-built population scored
    under :data:`TINY`."""
    from xpm_bench.evaluation.evaluate import evaluate_file
    from xpm_bench.io import write_json

    folder = tmp_path_factory.mktemp("evaluated")
    pop = random_population(folder / "pop.pt", members=3)
    result = evaluate_file(pop, protocol="tiny")
    write_json(folder / "result.json", result)
    return pop, folder / "result.json", json.loads((folder / "result.json").read_text())


@pytest.fixture
def root(tmp_path):
    return tmp_path / "leaderboards"
