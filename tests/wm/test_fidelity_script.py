"""``benchmarks/wm_fidelity.py`` runs end to end on a tiny setting and reports every event."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from xpm_bench.agents.networks import build_network
from xpm_bench.population import Member, Population, save_population

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "wm_fidelity.py"


def _population(path: Path) -> Path:
    torch.manual_seed(0)
    kwargs = {"obs_shape": [115], "num_outputs": 6, "hidden": 16, "layers": 1}
    members = [Member(f"m{i}", "mlp", kwargs, build_network("mlp", kwargs).state_dict(), seed=i)
               for i in range(2)]  # fmt: skip
    return save_population(Population("MPPMR-v0", "hand-made", {}, {}, None, members), path)


# slow: the whole pipeline in a subprocess (data from 5 sources, two model trainings, the
# imagined-vs-real timing), about a minute on 2 loaded cores
@pytest.mark.slow
def test_fidelity_script_writes_every_event_split_horizon_and_cost(tmp_path):
    out = tmp_path / "fid.json"
    args = ["--population", str(_population(tmp_path / "pop.pt")), "--preset", "smoke",
            "--updates", "4", "--eval-every", "2", "--envs", "4", "--steps", "30",
            "--heldout-steps", "30", "--windows", "8", "--speed-batch", "64",
            "--out", str(out)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=300, env=env, cwd=ROOT)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    events = report["results"]["events"]
    assert set(events["table"]) == {"train", "sp", "random", "xp"}
    row = events["table"]["xp"]["H15"]
    assert len(row["events"]) == 14 and {"H1", "H5", "H15"} <= set(events["table"]["xp"])
    assert set(row["target_misses"]) <= set(report["targets"]["events"])
    assert [p["update"] for p in events["curve"]] == [2, 4]
    scalar = report["results"]["scalar"]["table"]["xp"]["H15"]
    assert "sparse_return_mae" in scalar and "events" not in scalar
    speed = report["results"]["speed"]
    assert speed["batch"] == 64
    assert speed["imagined_steps_counted"] == 64 * 21  # one warm-up step + 20 timed


def test_target_logic_on_made_up_numbers():
    sys.path.insert(0, str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("wm_fidelity", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.THRESHOLD[0] = 0.95
    ok = {"precision": 0.96, "recall": 0.99, "real": 10, "predicted": 10}
    assert module._meets(ok)
    assert not module._meets({**ok, "recall": 0.9})
    assert not module._meets({**ok, "precision": float("nan"), "predicted": 0})
    assert module._meets({"precision": float("nan"), "recall": float("nan"), "real": 0,
                          "predicted": 0})  # fmt: skip
    assert not module._meets({"precision": 0.0, "recall": float("nan"), "real": 0,
                              "predicted": 3})  # fmt: skip
