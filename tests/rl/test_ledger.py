"""The ledger counts every step of every copy, by kind, through the metered env."""

import pytest
import torch

from xpm_bench.registry import make
from xpm_bench.rl.ledger import KINDS, Ledger, MeteredEnv


def test_metered_env_counts_each_copy_step_by_kind():
    ledger = Ledger()
    env = MeteredEnv(make("MPPMR-v0", num_envs=5), ledger, "sp")
    env.reset(seed=0)
    stay = torch.zeros(5, 2, dtype=torch.int64)
    for _ in range(3):
        env.step(stay)
    env.set_kind(["sp", "xp", "xp", "mp", "sp"])
    env.step(stay)
    env.set_kind("xp")
    env.step(stay)
    assert ledger.env_steps == 25
    assert ledger.env_steps_by_kind == {"sp": 17, "xp": 7, "mp": 1}
    ledger.count_imagined(40)
    data = ledger.to_dict()
    assert data["imagined_steps"] == 40 and set(data["env_steps_by_kind"]) == set(KINDS)
    assert Ledger.from_dict(data).to_dict()["env_steps_by_kind"] == data["env_steps_by_kind"]


def test_unknown_kind_rejected():
    env = MeteredEnv(make("MPPMR-v0", num_envs=2), Ledger())
    with pytest.raises(ValueError, match="unknown step kind"):
        env.set_kind("imagined")
