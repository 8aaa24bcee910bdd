"""Every registered generator: runs on its smoke preset, is deterministic, resumes exactly."""

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from xpm_bench.errors import ConfigError
from xpm_bench.generators import generator_names, get_generator
from xpm_bench.generators.config import apply_overrides, config_from_dict, config_to_dict
from xpm_bench.generators.harness import GenerationInterrupted, Harness
from xpm_bench.generators.run import run_generation
from xpm_bench.population import load_population

REPO = Path(__file__).resolve().parents[2]
TINY = ["env_steps=4096", "num_envs=32", "rollout_steps=16"]
# methods whose configs are not sized by env steps and copies (a world model's iterations)
TINY_BY_METHOD = {
    "xpm-wm": [
        "phase1_max_iterations=3", "phase1_min_iterations=1", "member_iterations=4",
        "imagined_envs=32", "real_envs=4", "real_rollout_steps=8", "warmup_iterations=1",
        "model_updates=1",
    ],
}  # fmt: skip


def _same_population(a, b):
    assert len(a.members) == len(b.members)
    for ma, mb in zip(a.members, b.members):
        assert ma.state_dict.keys() == mb.state_dict.keys()
        assert (ma.name, ma.seed, ma.info) == (mb.name, mb.seed, mb.info)
        for key in ma.state_dict:
            assert torch.equal(ma.state_dict[key], mb.state_dict[key]), key


def _counts(ledger):
    return {k: v for k, v in ledger.items() if k != "wall_clock_s"}


@pytest.mark.parametrize("method", generator_names())
def test_generator_contract(method):
    module = get_generator(method).load()
    assert set(module.PRESETS) >= {"smoke", "default", "paper"}
    config = module.preset("smoke", "MPPMR-v0")
    assert dataclasses.is_dataclass(config) and config.__dataclass_params__.frozen
    assert config_from_dict(type(config), config_to_dict(config)) == config
    for name in ("default", "paper"):
        assert module.preset(name, "MPPMR-v0") != config


@pytest.mark.parametrize("method", generator_names())
def test_same_seed_gives_identical_population(method, tmp_path):
    tiny = TINY_BY_METHOD.get(method, TINY)
    a = run_generation(method, "MPPMR-v0", 2, seed=5, preset="smoke", overrides=tiny)
    b = run_generation(method, "MPPMR-v0", 2, seed=5, preset="smoke", overrides=tiny)
    c = run_generation(method, "MPPMR-v0", 2, seed=6, preset="smoke", overrides=tiny)
    _same_population(a, b)
    assert _counts(a.ledger) == _counts(b.ledger)
    assert a.ledger["env_steps"] > 0
    key = next(iter(a.members[0].state_dict))
    assert not torch.equal(a.members[0].state_dict[key], c.members[0].state_dict[key])


def test_sp_members_do_not_depend_on_population_size():
    small = run_generation("sp", "MPPMR-v0", 1, seed=2, preset="smoke", overrides=TINY)
    large = run_generation("sp", "MPPMR-v0", 2, seed=2, preset="smoke", overrides=TINY)
    _same_population(small, type(small)(**{**small.__dict__, "members": large.members[:1]}))
    assert large.ledger["env_steps"] == 2 * small.ledger["env_steps"]


@pytest.mark.parametrize("method", generator_names())
def test_interrupt_checkpoints_then_resume_matches(tmp_path, method):
    """A stop request (what Ctrl-C/SIGTERM set) checkpoints at the next boundary and stops."""
    tiny = TINY_BY_METHOD.get(method, TINY)
    reference = run_generation(method, "MPPMR-v0", 2, seed=1, preset="smoke", overrides=tiny)

    class StopAfter:
        def __init__(self, harness_ref, n):
            self.harness_ref, self.n, self.seen = harness_ref, n, 0

        def start(self, total, done):
            pass

        def update(self, done, metrics):
            self.seen += 1
            if self.seen == self.n:
                self.harness_ref[0].request_stop()

        def stop(self):
            pass

    ref = []
    original_init = Harness.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        ref.append(self)

    out = tmp_path / "pop.pt"
    Harness.__init__ = init
    try:
        with pytest.raises(GenerationInterrupted, match="--resume"):
            run_generation(
                method,
                "MPPMR-v0",
                2,
                seed=1,
                preset="smoke",
                overrides=tiny,
                output=out,
                run_dir=tmp_path / "run",
                progress=StopAfter(ref, 6),
            )
    finally:
        Harness.__init__ = original_init
    assert not out.exists()
    assert (tmp_path / "run" / "checkpoint.pt").exists()
    with pytest.raises(ConfigError, match="already holds a checkpoint"):
        run_generation(
            method, "MPPMR-v0", 2, seed=1, preset="smoke", overrides=tiny, run_dir=tmp_path / "run"
        )
    with pytest.raises(ConfigError, match="seed=1"):
        run_generation(
            method,
            "MPPMR-v0",
            2,
            seed=9,
            preset="smoke",
            overrides=tiny,
            run_dir=tmp_path / "run",
            resume=True,
        )
    resumed = run_generation(
        method,
        "MPPMR-v0",
        2,
        seed=1,
        preset="smoke",
        overrides=tiny,
        output=out,
        run_dir=tmp_path / "run",
        resume=True,
    )
    _same_population(reference, resumed)
    assert _counts(reference.ledger) == _counts(resumed.ledger)
    assert out.exists()


def _cli(*args):
    return [sys.executable, "-m", "xpm_bench.cli.main", *args]


@pytest.mark.parametrize("method", generator_names())
def test_killed_run_resumes_to_the_uninterrupted_population(tmp_path, method):
    """SIGKILL a CLI run after a checkpoint, --resume it, compare with an uninterrupted run."""
    overrides = ["env_steps=6144", "num_envs=32", "rollout_steps=16"]
    if method in TINY_BY_METHOD:  # long enough a second member to be killed in
        overrides = [*TINY_BY_METHOD[method], "member_iterations=8"]
    common = [
        "generate", "--method", method, "--env", "MPPMR-v0", "--pop-size", "2",
        "--preset", "smoke", "--seed", "4", "--threads", "1", "--quiet",
        "--checkpoint-interval", "0", *(a for o in overrides for a in ("--set", o)),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    reference = run_generation(
        method, "MPPMR-v0", 2, seed=4, preset="smoke", overrides=overrides, threads=1
    )

    out, run_dir = tmp_path / "pop.pt", tmp_path / "run"
    proc = subprocess.Popen(
        _cli(*common, "-o", str(out), "--run-dir", str(run_dir)), env=env, cwd=tmp_path
    )
    checkpoint = run_dir / "checkpoint.pt"
    total = reference.ledger["env_steps"]
    killed_at = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if checkpoint.exists():
            saved = torch.load(checkpoint, weights_only=True)
            steps = saved["ledger"]["env_steps"]
            current = (saved["generator_state"] or {}).get("current") or {}
            # past half way (for sp: into the second member), or inside the second member
            if steps > total // 2 or current.get("index", 0) >= 1:
                proc.send_signal(signal.SIGKILL)
                killed_at = steps
                break
        time.sleep(0.02)
    proc.wait()
    assert killed_at is not None and killed_at < total, "run finished before it could be killed"
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    subprocess.run(
        _cli(*common, "-o", str(out), "--run-dir", str(run_dir), "--resume"),
        check=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    resumed = load_population(out)
    _same_population(reference, resumed)
    assert _counts(reference.ledger) == _counts(resumed.ledger)
    assert resumed.ledger["env_steps"] == total


def test_overrides_are_type_checked():
    config = get_generator("sp").load().preset("smoke", "MPPMR-v0")
    assert apply_overrides(config, ["ppo.lr=0.01"]).ppo.lr == 0.01
    with pytest.raises(ConfigError, match="unknown config field 'nope'"):
        apply_overrides(config, ["nope=1"])
    with pytest.raises(ConfigError, match="takes a int"):
        apply_overrides(config, ["num_envs=abc"])
