"""MPPMR closed-form facts, checked with the scripted convention agents."""

from __future__ import annotations

import itertools

import pytest
import torch

import xpm_bench
from xpm_bench.agents import ConstantPolicy
from xpm_bench.agents.scripted import mppmr_convention_agents
from xpm_bench.envs.mppmr import QUIT
from xpm_bench.rollout import play_pairs

ENV = "MPPMR-v0"


@pytest.fixture(scope="module")
def agents():
    return mppmr_convention_agents(xpm_bench.make(ENV))


def test_every_convention_pair_has_the_closed_form_return(agents):
    keys = list(agents)
    pairs = [(agents[a], agents[b]) for a, b in itertools.product(keys, keys)]
    batch = play_pairs(ENV, pairs, episodes=1)
    for n, (a, b) in enumerate(itertools.product(keys, keys)):
        expected = 1.0 if a[0] == b[0] else 0.0  # same landmark meets, lanes do not matter
        assert batch.returns[n, 0].tolist() == [expected, expected], (a, b)
        assert bool(batch.terminated[n, 0]) == (expected == 1.0)
        if expected == 0.0:
            assert int(batch.lengths[n, 0]) == 16  # nobody meets: the horizon ends it


def test_conventions_take_their_lane_and_reach_their_landmark(agents):
    env = xpm_bench.make(ENV)
    names = env.event_names
    batch = play_pairs(ENV, [(agents[(k, p)], agents[(k, p)]) for k, p in agents], episodes=1)
    for n, (k, p) in enumerate(agents):
        events = batch.events[n, 0]  # [2, E]
        for seat in range(2):
            lanes = {
                names[e]
                for e in range(len(names))
                if names[e].startswith("lane") and events[seat, e] > 0
            }
            assert lanes == {f"lane_{k}_{p}"}
            assert events[seat, names.index(f"landmark_{k}")] == 1
            assert events[seat, names.index("rendezvous")] == 1


def test_quit_ends_the_episode_with_zero_and_fires_the_event():
    env = xpm_bench.make(ENV, num_envs=2)
    env.reset(seed=0)
    actions = torch.tensor([[QUIT, 0], [1, 1]])
    obs, rew, term, trunc, info = env.step(actions)
    assert term.tolist() == [True, False] and rew[0].tolist() == [0.0, 0.0]
    quit_index = env.event_names.index("quit")
    assert info["events"][0, :, quit_index].tolist() == [1.0, 0.0]
    assert info["episode_length"][0] == 1


def test_quit_overrides_a_rendezvous_on_the_same_step(agents):
    env = xpm_bench.make(ENV)
    obs, _ = env.reset(seed=0)
    policy = agents[(0, 0)]
    for _ in range(env.horizon):
        a0, _ = policy.act(obs[:, 0])
        a1, _ = policy.act(obs[:, 1])
        probe = env.get_state()
        _, rew, term, _, _ = env.step(torch.stack([a0, a1], 1))
        if term.any():
            env.set_state(probe)
            _, rew, term, _, info = env.step(torch.stack([a0, torch.tensor([QUIT])], 1))
            assert term.all() and rew.sum() == 0
            assert info["events"][0, :, env.event_names.index("rendezvous")].sum() == 0
            return
        obs = env._observe()
    pytest.fail("the convention pair never met")


def test_idle_partner_gets_nothing(agents):
    idle = ConstantPolicy(0)
    batch = play_pairs(ENV, [(agents[(1, 0)], idle), (idle, idle)], episodes=2)
    assert batch.returns.sum() == 0 and (batch.lengths == 16).all()


def test_observation_encodes_cells_and_time():
    env = xpm_bench.make(ENV)
    obs, _ = env.reset(seed=0)
    n = env.layout.num_cells
    own, partner, time = obs[0, 0, :n], obs[0, 0, n : 2 * n], obs[0, 0, -1]
    assert own.sum() == 1 and partner.sum() == 1 and time == 0
    assert torch.equal(obs[0, 1, :n], partner) and torch.equal(obs[0, 1, n : 2 * n], own)
    obs, *_ = env.step(torch.tensor([[0, 0]]))
    assert obs[0, 0, -1] == pytest.approx(1 / 16)


@pytest.mark.parametrize(
    "n_landmarks,n_lanes,lane_length", [(1, 1, 1), (2, 3, 2), (4, 4, 3), (3, 2, 1)]
)
def test_other_geometries_keep_the_conventions(n_landmarks, n_lanes, lane_length):
    kwargs = dict(n_landmarks=n_landmarks, n_lanes=n_lanes, lane_length=lane_length, horizon=40)
    env = xpm_bench.make(ENV, **kwargs)
    agents = mppmr_convention_agents(env)
    assert len(agents) == n_landmarks * n_lanes
    keys = list(agents)
    batch = play_pairs(ENV, [(agents[a], agents[b]) for a in keys for b in keys], env_kwargs=kwargs)
    expected = torch.tensor([float(a[0] == b[0]) for a in keys for b in keys])
    assert torch.equal(batch.returns[:, 0, 0], expected)


def test_reward_weights_can_be_individual():
    env = xpm_bench.make(ENV, num_envs=1)
    e = env.num_events
    weights = torch.zeros(2, 2, e)
    weights[0, 0, env.event_names.index("quit")] = -1.0  # seat 0 pays for its own quits only
    env.set_reward_weights(weights)
    env.reset()
    _, rew, *_ = env.step(torch.tensor([[QUIT, QUIT]]))
    assert rew.tolist() == [[-1.0, 0.0]]
