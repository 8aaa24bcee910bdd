"""Shared fixtures: a small MPPMR world model trained briefly on random play."""

from __future__ import annotations

import pytest
import torch
from wm_helpers import FAST, mppmr_replay

import xpm_bench
from xpm_bench.wm import WorldModel, preset
from xpm_bench.wm.train import WMTrainer


@pytest.fixture(scope="session")
def trained_mppmr():
    """``(model, held-out batch)``: 600 updates on 9,600 random-play steps (~15 s)."""
    torch.manual_seed(0)
    env = xpm_bench.make("MPPMR-v0", num_envs=1)
    model = WorldModel.for_env(env, preset("smoke", **FAST))
    trainer = WMTrainer(model, mppmr_replay(model, (1, 11, 12), 300), seed=0)
    for _ in range(600):
        trainer.update()
    held = mppmr_replay(model, (2, 21, 22), 100)
    return model.eval(), held.sample(64, 16)
