"""XPM-Sim and XPM-WM end to end: ledger by kind, resume mid-member, evaluation, learning."""

import math

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
        sa, sb = a.shared[name], b.shared[name]
        assert sa["spec"] == sb["spec"]
        for key in sa["state_dict"]:
            assert torch.equal(sa["state_dict"][key], sb["state_dict"][key]), (name, key)


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


WM_TINY = [
    "phase1_max_iterations=3", "phase1_min_iterations=1", "member_iterations=2",
    "imagined_envs=32", "real_envs=4", "real_rollout_steps=8", "warmup_iterations=1",
    "model_updates=1", "xp_gate_sp=0",
]  # fmt: skip


def test_xpm_wm_real_steps_are_sp_only_by_default_and_imagined_steps_are_counted():
    pop = run_generation("xpm-wm", "MPPMR-v0", 2, seed=0, preset="smoke", overrides=WM_TINY)
    ledger = pop.ledger
    drift_steps = 2 * 2 * 32 * 16  # at most: 2 members x 2 models x 32 episodes x 16 steps
    assert ledger["env_steps_by_kind"]["xp"] == ledger["env_steps_by_kind"]["mp"] == 0
    assert 5 * 4 * 8 <= ledger["env_steps_by_kind"]["sp"] <= 5 * 4 * 8 + drift_steps
    imagined = ledger["imagined_steps_by_kind"]
    # phase 1: 2 trained iterations of SP; member 1: 2 iterations, half the copies XP
    assert imagined == {"sp": 2 * 32 * 16 + 2 * 16 * 16, "xp": 2 * 16 * 16, "mp": 0}
    with_real_xp = run_generation(
        "xpm-wm", "MPPMR-v0", 2, seed=0, preset="smoke",
        overrides=[*WM_TINY, "real_xp_fraction=0.5"],
    )  # fmt: skip
    # member 1 plays 2 real XP copies x 8 steps in each of its 2 iterations
    assert with_real_xp.ledger["env_steps_by_kind"]["xp"] == 2 * 2 * 8


def test_xpm_wm_killed_mid_phase2_resumes_to_the_same_population(tmp_path):
    reference = run_generation("xpm-wm", "MPPMR-v0", 2, seed=3, preset="smoke",
                               overrides=WM_TINY)  # fmt: skip
    resumed = interrupted_then_resumed("xpm-wm", WM_TINY, tmp_path, member=1, n=1)
    _same_population(reference, resumed)
    assert _counts(reference.ledger) == _counts(resumed.ledger)


def test_xpm_wm_population_evaluates_end_to_end_with_finite_drift(tmp_path):
    from xpm_bench.evaluation.evaluate import evaluate_file
    from xpm_bench.population import load_population

    out = tmp_path / "pop.pt"
    run_generation("xpm-wm", "MPPMR-v0", 2, seed=1, preset="smoke", overrides=WM_TINY, output=out)
    pop = load_population(out)
    assert set(pop.shared) == {"world_model"}
    assert all(m.shared == "world_model" for m in pop.members)
    for member in pop.members:
        for key in ("real_sp_final_model", "real_sp_trained_model", "drift"):
            assert math.isfinite(member.info[key]), (member.name, key)
    result = evaluate_file(out, protocol="smoke", skip_holdout=True)
    assert result["population"]["method"] == "xpm-wm"
    assert len(result["xp_matrix"]) == 2 and result["sample_cost"]["imagined_steps"] > 0


@pytest.fixture(scope="module")
def sim_m2_default():
    """XPM-Sim on MPPMR, M=2, default preset, seed 0, and its cross-play metrics."""
    from xpm_bench.evaluation.crossplay import population_metrics, run_crossplay

    pop = run_generation("xpm-sim", "MPPMR-v0", 2, seed=0, preset="default", threads=1)
    result = run_crossplay("MPPMR-v0", pop.policies(), 50, 0, [m.name for m in pop.members])
    return population_metrics(result, 0.5, 0)


@pytest.mark.slow  # two default-preset members, 800k real steps: ~80 s on a quiet 2-core CPU
def test_xpm_sim_second_member_is_incompatible_with_the_first(sim_m2_default):
    """MPPMR M=2, default preset: both members rendezvous in self-play, not with each other."""
    assert sim_m2_default["sp_mean"] >= 0.9
    assert sim_m2_default["xp_mean"] <= 0.1


@pytest.mark.slow  # shares the population of the test above
@pytest.mark.xfail(
    strict=True,
    reason="measured (seed 0): both members use one landmark and member 1 quits in 97% of "
    "XP episodes (self-sabotage); XP-state expansion did not prevent it at these settings",
)
def test_xpm_sim_second_member_is_incompatible_in_good_faith(sim_m2_default):
    assert sim_m2_default["landmarks_used"] == 2
    assert sim_m2_default["self_sabotage_rate"] <= 0.1


def test_xpm_wm_finished_members_can_be_played_from_a_checkpoint(tmp_path):
    from xpm_bench.generators.xpm_wm import members_from_state
    from xpm_bench.io import safe_torch_load
    from xpm_bench.rollout import play_pairs

    run_generation("xpm-wm", "MPPMR-v0", 2, seed=2, preset="smoke", overrides=WM_TINY,
                   run_dir=tmp_path / "run")  # fmt: skip
    state = safe_torch_load(tmp_path / "run" / "checkpoint.pt", what="checkpoint")
    policies = members_from_state(state["generator_state"])
    assert len(policies) == 2
    batch = play_pairs("MPPMR-v0", [(policies[0], policies[1])], episodes=4, seed=0)
    assert batch.returns.shape == (1, 4, 2)
    assert members_from_state(None) == []
