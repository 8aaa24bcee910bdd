"""XP-state expansion on the real env: banked XP states, SP episodes started from them."""

import pytest
import torch

import xpm_bench
from xpm_bench.agents.scripted import mppmr_convention_agents
from xpm_bench.generators.xpm_wm.states import (
    StateBank,
    XPStartsEnv,
    start_rows_from,
    state_rows,
)
from xpm_bench.rl.ledger import Ledger, MeteredEnv


def _act(env, obs, seat_policies):
    """Actions of per-copy, per-seat scripted policies ``seat_policies[b][s]``."""
    acts = torch.zeros(env.num_envs, 2, dtype=torch.int64)
    for b, pair in enumerate(seat_policies):
        for s, policy in enumerate(pair):
            acts[b, s] = policy.act(obs[b : b + 1, s])[0][0]
    return acts


def test_bank_is_a_ring_buffer_and_round_trips():
    bank = StateBank(capacity=4)
    bank.add({"pos": torch.tensor([[0, 1], [2, 3], [4, 5]]), "t": torch.tensor([1, 2, 3])})
    bank.add({"pos": torch.tensor([[6, 7], [8, 9]]), "t": torch.tensor([4, 5])})
    assert len(bank) == 4
    # the oldest row (t=1) was overwritten by the newest (t=5)
    assert sorted(bank.rows["t"].tolist()) == [2, 3, 4, 5]
    copy = StateBank(capacity=1)
    copy.load_state_dict(bank.state_dict())
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a, b = bank.sample(16, g1), copy.sample(16, g2)
    assert torch.equal(a["pos"], b["pos"]) and torch.equal(a["t"], b["t"])
    # every sampled row is one of the stored rows, with its own t
    assert all(int(p[0]) // 2 + 1 == int(t) for p, t in zip(a["pos"], a["t"]))
    copy.add({"pos": torch.tensor([[10, 11]]), "t": torch.tensor([6])})
    bank.add({"pos": torch.tensor([[10, 11]]), "t": torch.tensor([6])})
    assert torch.equal(copy.rows["t"], bank.rows["t"])
    with pytest.raises(ValueError, match="keys"):
        bank.add({"pos": torch.tensor([[0, 0]])})


def test_start_rows_from_restores_only_those_rows_and_continues_the_dynamics():
    env = xpm_bench.make("MPPMR-v0", num_envs=3)
    agents = mppmr_convention_agents(env)
    obs, _ = env.reset(seed=0)
    lm1 = agents[(1, 0)]
    for _ in range(3):  # walk all copies three steps towards landmark 1
        obs, *_ = env.step(_act(env, obs, [(lm1, lm1)] * 3))
    midway = state_rows(env, torch.tensor([0]))
    env.reset(seed=0)
    before = env.get_state()
    obs_rows = start_rows_from(env, torch.tensor([2]), midway)
    after = env.get_state()
    assert torch.equal(after["pos"][:2], before["pos"][:2])  # untouched rows
    assert torch.equal(after["pos"][2], midway["pos"][0]) and int(after["t"][2]) == 3
    assert torch.equal(obs_rows[0], env.observe()[2])
    assert int(env.own_cell(obs_rows[0, 0])) == int(midway["pos"][0, 0])
    # the restored copy finishes its rendezvous 3 steps earlier than a fresh copy would
    obs = env.observe()
    lengths = {}
    for _ in range(16):
        obs, rew, term, trunc, info = env.step(_act(env, obs, [(lm1, lm1)] * 3))
        for b in (term | trunc).nonzero().squeeze(-1).tolist():
            lengths.setdefault(b, (int(info["episode_length"][b]), float(rew[b, 0])))
    assert lengths[0][1] == lengths[2][1] == 1.0  # both met on landmark 1
    assert lengths[2][0] == lengths[0][0]  # same total length: t carried over
    assert set(lengths) == {0, 1, 2}


def test_xp_copies_feed_the_bank_and_sp_copies_restart_from_it():
    """Copies 0-1 play cross-play (landmark-0 agent with a landmark-1 agent: they never meet),
    copies 2-3 self-play on landmark 2 and restart from banked XP states every episode."""
    ledger = Ledger()
    env = MeteredEnv(xpm_bench.make("MPPMR-v0", num_envs=4), ledger, "sp")
    agents = mppmr_convention_agents(env)
    a0, a1, a2 = agents[(0, 0)], agents[(1, 0)], agents[(2, 0)]
    xp = torch.tensor([True, True, False, False])
    wrapped = XPStartsEnv(env, StateBank(256), xp, ~xp, start_fraction=1.0, seed=0)
    obs, _ = wrapped.reset(seed=0)
    seats = [(a0, a1), (a1, a0), (a2, a2), (a2, a2)]
    layout = env.layout
    sp_starts, steps = [], 48
    for _ in range(steps):
        obs, rew, term, trunc, info = wrapped.step(_act(env, obs, seats))
        done = term | trunc
        for b in (2, 3):
            if bool(done[b]):
                sp_starts.append((tuple(env.pos[b].tolist()), int(env.t[b])))
    banked_pos = {tuple(p) for p in wrapped.bank.rows["pos"][: len(wrapped.bank)].tolist()}
    # banked states are XP states: the two agents walk apart along arms 0 and 1
    assert len(wrapped.bank) == 2 * steps - 2 * (steps // 16)
    for cells in banked_pos:
        arms = {_arm_of(layout, c) for c in cells}
        assert arms <= {"hub", 0, 1}
    # every SP episode after the first started from a banked state, mid-episode
    assert wrapped.restarts == len(sp_starts) > 0
    for pos, t in sp_starts:
        assert pos in banked_pos and t > 0
    # restoring states took no env steps: the ledger holds exactly the steps taken
    assert ledger.env_steps == 4 * steps


def _arm_of(layout, cell):
    """Which arm a cell lies on (by its direction from the hub centre), or 'hub'."""
    x, y = layout.cells[cell]
    cx, cy = layout.grid.shape[1] // 2, layout.grid.shape[0] // 2
    dx, dy = x - cx, y - cy
    if max(abs(dx), abs(dy)) <= 1:
        return "hub"
    if abs(dy) >= abs(dx):
        return 0 if dy < 0 else 2
    return 1 if dx > 0 else 3


def test_xp_copies_are_rewarded_with_the_given_weights_and_sp_copies_with_the_envs():
    env = xpm_bench.make("MPPMR-v0", num_envs=2)
    shaped = torch.tensor(env.reward_sets["sparse"]) + torch.tensor(
        [0.05 if n.startswith("lane_") else 0.0 for n in env.event_names]
    )
    env.set_reward_weights(shaped)
    sparse = env.reward_weight_tensor("sparse")
    agents = mppmr_convention_agents(env)
    xp = torch.tensor([True, False])
    wrapped = XPStartsEnv(env, StateBank(64), xp, ~xp, 0.0, seed=0, xp_reward_weights=sparse)
    obs, _ = wrapped.reset(seed=0)
    lane, sp_total, xp_total = agents[(1, 1)], 0.0, 0.0
    done = torch.zeros(2, dtype=torch.bool)
    while not bool(done.any()):
        obs, rew, term, trunc, _ = wrapped.step(_act(env, obs, [(lane, lane), (lane, lane)]))
        xp_total, sp_total = xp_total + float(rew[0, 0]), sp_total + float(rew[1, 0])
        done = term | trunc
    assert bool(term.all())  # both met on landmark 1
    # same moves in both copies: the SP copy is paid for both players entering the lane
    # (team reward), the XP copy only for the rendezvous
    assert sp_total == pytest.approx(2 * 0.05 + 1.0) and xp_total == pytest.approx(1.0)
