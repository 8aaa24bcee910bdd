"""Smoke test of ``benchmarks/leaderboard_verify.py``: its worker times the stored checks of
the committed boards (the full verify and evaluate kinds cost minutes; not run here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_worker_times_every_committed_entry():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    path = ROOT / "benchmarks" / "leaderboard_verify.py"
    spec = importlib.util.spec_from_file_location("leaderboard_verify", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.measure({"kind": "quick", "target": str(ROOT / "leaderboards"), "threads": 1})
    entries = len(list((ROOT / "leaderboards").rglob("submission.json")))
    assert result["status"] == "ok" and result["entries"] == entries >= 1
    assert result["seconds"] > 0
