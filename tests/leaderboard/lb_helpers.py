"""Helpers of the leaderboard tests (imported by their conftest and test modules)."""

from __future__ import annotations

import copy
import json
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from xpm_bench.evaluation.protocol import PROTOCOLS
from xpm_bench.leaderboard.board import SUBMISSION_FILE
from xpm_bench.leaderboard.submit import SubmitOptions

# Registered for these tests only (in-process): small enough that an evaluation with an ego
# takes a few seconds, large enough that every metric and the ego section are real.
TINY = replace(
    PROTOCOLS["MPPMR", "smoke"], name="tiny", version=1, episodes=4, n_boot=50
).with_ego_steps(2048)
GENERATION = "python -c 'tests/leaderboard/conftest.py: random_population(path, seed)'"
OPTIONS = SubmitOptions(description="untrained MLPs", generation_command=GENERATION)


def random_population(path: Path, members: int = 3, seed: int = 0) -> Path:
    """A population of untrained MLPs for MPPMR-v0, written with the library's own saver."""
    from xpm_bench.agents.networks import build_network
    from xpm_bench.population import Member, Population, save_population

    torch.manual_seed(seed)
    kwargs = {"obs_shape": [115], "num_outputs": 6, "hidden": 16, "layers": 1, "gru": 0}
    pop = Population(
        env_id="MPPMR-v0",
        method="random-init",
        config={"note": "untrained MLPs"},
        seeds={"seed": seed},
        ledger={
            "env_steps": 1234,
            "env_steps_by_kind": {"sp": 1000, "xp": 234, "mp": 0},
            "imagined_steps": 99,
            "wall_clock_s": 1.5,
        },
        members=[
            Member(f"m{i}", "mlp", kwargs, build_network("mlp", kwargs).state_dict(), seed=i)
            for i in range(members)
        ],
    )
    return save_population(pop, path)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_main(capsys, *args: str) -> CliResult:
    """Run the CLI in this process (so the test protocol is registered), as ``main`` does."""
    from xpm_bench.cli.main import main

    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return CliResult(code, out, err)


def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` and its bytes (``{}`` if it does not exist)."""
    if not path.exists():
        return {}
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def write_variant(board: Path, base: dict, entry_id: str, edit) -> Path:
    """A copy of submission ``base`` as entry ``entry_id`` on ``board``, changed by
    ``edit(data)``; its population is a URL (render needs no file)."""
    data = copy.deepcopy(base)
    data["id"] = entry_id
    digest = "sha256:" + format(abs(hash(entry_id)), "064x")[-64:]
    data["population"] = {"sha256": digest, "size_bytes": 1, "url": "file:///nowhere.pt"}
    data["result"]["population"]["hash"] = digest
    edit(data)
    folder = board / entry_id
    folder.mkdir(parents=True)
    (folder / SUBMISSION_FILE).write_text(json.dumps(data, indent=2))
    return folder


def chromium_paths() -> tuple[str, str] | None:
    """``(browser, driver)`` from Debian's chromium and chromium-driver, if installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")
