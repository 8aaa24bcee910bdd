"""XPM-Sim and XPM-WM end to end: ledger by kind, resume mid-member, evaluation, learning."""

import pytest
import torch

from xpm_bench.generators.harness import GenerationInterrupted, Harness
from xpm_bench.generators.run import run_generation

SIM_TINY = ["env_steps=4096", "num_envs=32", "rollout_steps=16", "xp_gate_sp=0"]


def _same_population(a, b):
    assert [m.name for m in a.members] == [m.name for m in b.members]
    for ma, mb in zip(a.members, b.members):
        assert ma.info == mb.info
        for key in ma.state_dict:
            assert torch.equal(ma.state_dict[key], mb.state_dict[key]), (ma.name, key)
    assert set(a.shared) == set(b.shared)
    for name in a.shared:
        for key in a.shared[name]:
            assert torch.equal(a.shared[name][key], b.shared[name][key]), (name, key)


def _counts(ledger):
    return {k: v for k, v in ledger.items() if k != "wall_clock_s"}


class _StopInMember:
    """A progress sink that requests a stop at the ``n``-th update of member ``member``."""

    def __init__(self, harnesses, member, n):
        self.harnesses, self.member, self.n, self.seen = harnesses, member, n, 0

    def start(self, total, done):
        pass

    def update(self, done, metrics):
        if metrics.get("member") == self.member:
            self.seen += 1
            if self.seen == self.n:
                self.harnesses[-1].request_stop()

    def stop(self):
        pass


def interrupted_then_resumed(method, overrides, tmp_path, member=1, n=2, pop_size=2):
    """Run ``method`` with a stop requested mid-member, then resume it to the end."""
    harnesses = []
    original = Harness.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        harnesses.append(self)

    kwargs = dict(seed=3, preset="smoke", overrides=overrides, run_dir=tmp_path / "run")
    Harness.__init__ = init
    try:
        with pytest.raises(GenerationInterrupted):
            run_generation(
                method, "MPPMR-v0", pop_size, progress=_StopInMember(harnesses, member, n), **kwargs
            )
    finally:
        Harness.__init__ = original
    return run_generation(method, "MPPMR-v0", pop_size, resume=True, **kwargs)


def test_xpm_sim_ledger_counts_sp_and_xp_real_steps():
    pop = run_generation("xpm-sim", "MPPMR-v0", 3, seed=0, preset="smoke", overrides=SIM_TINY)
    kinds = pop.ledger["env_steps_by_kind"]
    # member 0: all copies SP; members 1, 2: half the copies XP (xp_env_fraction 0.5)
    assert kinds == {"sp": 4096 + 2 * 2048, "xp": 2 * 2048, "mp": 0}
    assert pop.ledger["imagined_steps"] == 0
    assert [m.info["xp_state_starts"] > 0 for m in pop.members] == [False, True, True]


def test_xpm_sim_without_expansion_starts_no_episode_from_xp_states():
    pop = run_generation(
        "xpm-sim", "MPPMR-v0", 2, seed=0, preset="smoke",
        overrides=[*SIM_TINY, "xp_state_expansion=false"],
    )  # fmt: skip
    assert [m.info["xp_state_starts"] for m in pop.members] == [0, 0]


def test_xpm_sim_killed_mid_member_resumes_to_the_same_population(tmp_path):
    reference = run_generation("xpm-sim", "MPPMR-v0", 2, seed=3, preset="smoke",
                               overrides=SIM_TINY)  # fmt: skip
    resumed = interrupted_then_resumed("xpm-sim", SIM_TINY, tmp_path)
    _same_population(reference, resumed)
    assert _counts(reference.ledger) == _counts(resumed.ledger)
