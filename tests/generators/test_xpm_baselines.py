"""LIPO and CoMeDi: closed-form outcomes on CMG, the ledger by kind, the pieces they share,
and (slow) the MPPMR ground truth."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import xpm_bench
from xpm_bench.agents.scripted import mppmr_convention_agents
from xpm_bench.errors import ConfigError
from xpm_bench.evaluation import metrics as mx
from xpm_bench.evaluation.crossplay import population_metrics, run_crossplay
from xpm_bench.generators import comedi, lipo
from xpm_bench.generators import xpm_common as xc
from xpm_bench.generators.run import run_generation
from xpm_bench.rl.rollout import Seating, initial_state

CMG = "CMG-Skewed-v0"
PAYOFFS = (1.0,) + (0.5,) * 7
# independent self-play on CMG: 16 updates of 256 one-step episodes
SP_CMG = ["env_steps=4096", "num_envs=128", "rollout_steps=2", "ppo.lr=0.003"]


def conventions(pop) -> list[tuple[int, float]]:
    """Each member's most likely convention and its probability (the observation is constant)."""
    picks = []
    for member in pop.members:
        with torch.no_grad():
            logits, _ = member.policy().net(torch.ones(1, 1))
        probs = torch.softmax(logits[0], dim=0)
        picks.append((int(probs.argmax()), float(probs.max())))
    return picks


# ------------------------------------------------------------------ CMG, closed form
def test_independent_self_play_mostly_finds_the_best_convention():
    """Convention 0 pays twice the others: independent agents mostly all find it (counted
    over two seeds, 8 agents), so their population has one convention and high XP."""
    picks = []
    for seed in (0, 1):
        pop = run_generation("sp", CMG, 4, seed=seed, preset="smoke", overrides=SP_CMG)
        picks += [k for k, _ in conventions(pop)]
    assert picks.count(0) >= 6, picks


@pytest.mark.parametrize("method", ["lipo", "comedi"])
def test_xpm_population_covers_four_distinct_conventions(method):
    pop = run_generation(method, CMG, 4, seed=0, preset="smoke")
    picks = [k for k, _ in conventions(pop)]
    assert len(set(picks)) == 4, picks
    result = run_crossplay(CMG, [m.policy() for m in pop.members], episodes=64)
    sp = result.matrix().diagonal()
    for i, k in enumerate(picks):  # each member plays its convention reliably
        assert sp[i] >= 0.9 * PAYOFFS[k], (i, k, sp[i])
    assert mx.xp_mean(result.returns) <= 0.05


# --------------------------------------------------------------------- the ledger
def test_a_lipo_update_steps_every_pair_exactly_once_per_copy_and_step():
    """M = 3, 2 copies per XP pair, 3 per SP pair, 4 steps, 8 updates."""
    over = ["env_steps=64", "num_envs=2", "sp_envs=3", "rollout_steps=4"]
    pop = run_generation("lipo", "MPPMR-v0", 3, seed=0, preset="smoke", overrides=over)
    by_kind = pop.ledger["env_steps_by_kind"]
    assert by_kind == {"sp": 8 * 4 * 3 * 3, "xp": 8 * 4 * 6 * 2, "mp": 0}
    assert sum(by_kind.values()) == pop.ledger["env_steps"]


def test_comedi_counts_self_cross_and_mixed_play():
    """Agent k runs 4 SP copies, 2 per earlier agent and seat, 3 mixed-play copies (k > 0)."""
    over = ["env_steps=256", "num_envs=4", "xp_envs=2", "mp_envs=3", "rollout_steps=16"]
    pop = run_generation("comedi", "MPPMR-v0", 3, seed=0, preset="smoke", overrides=over)
    u, t = 4, 16  # updates per agent, steps per rollout
    by_kind = pop.ledger["env_steps_by_kind"]
    assert by_kind == {"sp": 3 * u * t * 4, "xp": u * t * 2 * 2 * (0 + 1 + 2), "mp": u * t * 3 * 2}
    assert sum(by_kind.values()) == pop.ledger["env_steps"]
    ablation = run_generation(
        "comedi", "MPPMR-v0", 3, seed=0, preset="smoke", overrides=[*over, "mp_weight=0"]
    )
    assert ablation.ledger["env_steps_by_kind"] == {**by_kind, "mp": 0}


def test_comedi_agents_do_not_depend_on_the_population_size():
    over = ["env_steps=256", "num_envs=4", "xp_envs=2", "mp_envs=3", "rollout_steps=16"]
    small = run_generation("comedi", "MPPMR-v0", 2, seed=3, preset="smoke", overrides=over)
    large = run_generation("comedi", "MPPMR-v0", 3, seed=3, preset="smoke", overrides=over)
    for a, b in zip(small.members, large.members[:2], strict=True):
        for key in a.state_dict:
            assert torch.equal(a.state_dict[key], b.state_dict[key]), key


# ----------------------------------------------------------------- shared pieces
def test_lambda_schedule_takes_the_largest_size_not_above_m():
    schedule = xc.LIPO_PMR_LAMBDA  # LIPO's PMR scripts: 1 -> 0.5, 2 -> 0.1, 4 -> 0.5, 8 -> 0.25
    assert [xc.lambda_for(schedule, m) for m in (1, 2, 3, 4, 7, 8, 16)] == [
        0.5, 0.1, 0.1, 0.5, 0.5, 0.25, 0.25,
    ]  # fmt: skip
    assert xc.lambda_for(((4, 0.3),), 2) == 0.3  # below every entry: the smallest
    with pytest.raises(ConfigError, match="schedule is empty"):
        xc.lambda_for((), 4)


def test_pair_returns_average_both_seats_and_keep_unseen_pairs():
    episodes = {
        "pair": torch.tensor([[0, 1], [1, 0], [1, 0], [0, 0], [2, 2]]),
        "sparse_return": torch.tensor([1.0, 0.0, 0.5, 1.0, 0.25]),
    }
    previous = torch.full((3, 3), 7.0)
    xp = xc.pair_returns(episodes, 3, previous)
    assert xp[0, 1] == xp[1, 0] == pytest.approx(0.5)  # (1 + 0 + 0.5) / 3, both seats
    assert xp[0, 0] == 1.0 and xp[2, 2] == 0.25
    assert xp[0, 2] == xp[1, 2] == xp[1, 1] == 7.0  # no episode: previous estimate


def test_best_partner_is_the_max_xp_one_and_none_without_signal():
    xp = torch.tensor([[1.0, 0.2, 0.6], [0.2, 1.0, 0.0], [0.6, 0.0, 1.0]])
    assert xc.best_partners(xp).tolist() == [2, 0, 0]
    assert xc.best_partners(torch.eye(3)).tolist() == [-1, -1, -1]  # all XP 0
    assert xc.best_partners(torch.ones(1, 1)).tolist() == [-1]


def test_lipo_objective_weights_only_the_max_xp_partner():
    names = ("a", "b", "c")
    streams = lipo.objective(names, 1, 2, 0.25)
    assert [(s.name, s.weight) for s in streams] == [
        ("sp", 1.0), ("xp:a:*", 0.0), ("xp:c:*", -0.25),
    ]  # fmt: skip
    assert all(s.weight >= 0 for s in lipo.objective(names, 0, -1, 0.25))


def test_lambda_ramps_linearly_over_its_fraction_of_the_updates():
    config = dataclasses.replace(lipo.preset("smoke", "MPPMR-v0"), lambda_ramp=0.5)
    half = config.num_updates // 2
    assert [lipo.ramp(config, u) for u in (0, half // 2, half, config.num_updates)] == [
        0.0, (half // 2) / half, 1.0, 1.0,
    ]  # fmt: skip
    assert lipo.ramp(dataclasses.replace(config, lambda_ramp=0.0), 0) == 1.0


def test_comedi_xp_weights_max_and_softmax():
    config = comedi.preset("smoke", "MPPMR-v0")
    xp = torch.tensor([0.1, 0.7, 0.3])
    assert comedi.xp_weights(config, xp).tolist() == [0.0, 0.25, 0.0]
    assert comedi.xp_weights(config, torch.zeros(3)).tolist() == [0.0, 0.0, 0.0]
    soft = dataclasses.replace(config, partner_selection="softmax", selection_temperature=0.5)
    expected = 0.25 * torch.softmax(xp / 0.5, dim=0)
    torch.testing.assert_close(comedi.xp_weights(soft, xp), expected)
    names = ("c0", "c1", "c2", "c3")
    returns = torch.zeros(4, 4)
    returns[3, :3] = xp
    streams = comedi.objective(config, names, returns, mixed=True)
    assert [(s.name, s.weight) for s in streams] == [
        ("sp", 1.0), ("xp:c0:*", -0.0), ("xp:c1:*", -0.25), ("xp:c2:*", -0.0), ("mp:*", 1.0),
    ]  # fmt: skip


def test_bad_comedi_settings_are_refused_before_any_step():
    with pytest.raises(ConfigError, match="partner_selection must be one of max, softmax"):
        run_generation("comedi", CMG, 2, preset="smoke", overrides=["partner_selection=best"])
    with pytest.raises(ConfigError, match=r"mix_prob must lie in \[0, 1\]"):
        run_generation("comedi", CMG, 2, preset="smoke", overrides=["mix_prob=1.5"])


def test_mixed_play_copies_get_j_star_in_one_seat_before_a_switch_inside_the_episode():
    config = comedi.preset("smoke", "MPPMR-v0")
    k, horizon = 2, 16
    seats = torch.tensor([[2, 2]] * 3 + [[2, 2]] * 200)
    mixed = torch.tensor([False] * 3 + [True] * 200)
    reseat = comedi._MixedPlayReseater(config, k, mixed, horizon, seats)

    class Trainer:  # what the hook reads: the generator and this update's pair returns
        generator = torch.Generator().manual_seed(0)
        returns = torch.tensor([[1.0, 0.0, 0.1], [0.0, 1.0, 0.6], [0.1, 0.6, 1.0]])

    reseat.trainer = Trainer()
    state = initial_state(torch.zeros(203, 2, 3), Seating.fixed(seats), [None, None, None])
    reseat(torch.ones(203, dtype=torch.bool), state)
    s = state.seating
    assert torch.equal(s.seats, seats) and torch.equal(s.mix[:3], seats[:3])  # SP: untouched
    partner_seat = (s.mix[3:] != 2).float()
    assert torch.equal(partner_seat.sum(1), torch.ones(200))  # exactly one seat mixed
    assert set(s.mix[3:][s.mix[3:] != 2].tolist()) == {1}  # j* = agent 1 (XP 0.6)
    assert 60 < int(partner_seat[:, 0].sum()) < 140  # both seats drawn
    switch = s.switch[3:]
    assert int(switch.min()) == 1 and int(switch.max()) == horizon - 1
    assert torch.allclose(s.mix_prob[3:], torch.full((200,), config.mix_prob))
    assert not bool(s.switch[:3].any())


def test_cross_play_copies_score_the_sparse_reward_only():
    """Copy 0 is shaped (self-play), copy 1 is not; in both, the two seats walk lane 0 of arm 0
    to landmark 0 and meet: the lane (0.05) and landmark (0.1) shaping is paid in copy 0 only."""
    env = xpm_bench.make("MPPMR-v0", num_envs=2, backend="torch")
    view = xc.ShapedSelfPlayEnv(env, torch.tensor([True, False]))
    config = lipo.preset("smoke", "MPPMR-v0")
    view.anneal(config, steps=0)
    agent = mppmr_convention_agents(env)[(0, 0)]
    obs, _ = env.reset(seed=0)
    total = torch.zeros(2, 2)
    for _ in range(env.horizon):
        actions = torch.stack([agent.act(obs[:, 0])[0], agent.act(obs[:, 1])[0]], dim=1)
        obs, reward, term, trunc, info = view.step(actions)
        total += reward
        if bool(term.all()):
            break
    assert total[1].tolist() == [1.0, 1.0]  # the rendezvous only
    shaping = 2 * (0.05 + 0.1)  # both players' lane and landmark events, team reward
    torch.testing.assert_close(total[0], torch.full((2,), 1.0 + shaping))
    view.anneal(config, steps=config.shaping_anneal_steps)  # annealed away
    assert view._extra is None


# ------------------------------------------------------------ MPPMR ground truth
# Slow: each run trains 4 MPPMR agents on the default preset (5-13 CPU minutes).
# Not met yet (issue 12): with seed 0, LIPO's default run ends with SP 0.50, XP 0.005 and 2
# landmarks (two agents never learn self-play), CoMeDi's with SP 0.80, XP 0.31 and 2
# landmarks (later agents settle on an earlier agent's landmark); see the branch report.
@pytest.mark.slow
@pytest.mark.xfail(reason="MPPMR diversity target not met by the CPU presets yet", strict=False)
@pytest.mark.parametrize("method", ["lipo", "comedi"])
def test_mppmr_population_uses_four_landmarks(method):
    pop = run_generation(method, "MPPMR-v0", 4, seed=0, preset="default", threads=1)
    result = run_crossplay("MPPMR-v0", [m.policy() for m in pop.members], episodes=64)
    metrics = population_metrics(result)
    assert metrics["landmarks_used"] == 4, metrics["xp_matrix"]
    assert metrics["sp_mean"] >= 0.95 and metrics["xp_mean"] <= 0.05, metrics["xp_matrix"]


@pytest.mark.parametrize("method", ["lipo", "comedi"])
def test_a_population_of_one_is_plain_self_play(method):
    over = ["env_steps=256", "num_envs=8", "rollout_steps=16"]
    pop = run_generation(method, "MPPMR-v0", 1, seed=0, preset="smoke", overrides=over)
    by_kind = pop.ledger["env_steps_by_kind"]
    assert by_kind["xp"] == by_kind["mp"] == 0 and by_kind["sp"] > 0
    assert len(pop.members) == 1
