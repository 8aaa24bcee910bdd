"""Streams PPO: stream names, the sign of a stream's weight, several learners from one rollout,
determinism."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from xpm_bench.agents.base import ConstantPolicy
from xpm_bench.registry import make
from xpm_bench.rl.ppo import (
    Learner,
    PPOConfig,
    flat_samples,
    learner_batch,
    minibatch_loss,
    ppo_update,
)
from xpm_bench.rl.rollout import Rollout, Seating, collect_rollout, initial_state
from xpm_bench.rl.streams import Stream, parse_stream


def test_stream_names():
    assert parse_stream("sp") == ("sp", None, None)
    assert parse_stream("xp:3:1") == ("xp", "3", 1)
    assert parse_stream("xp:*:*") == ("xp", None, None)
    assert parse_stream("mp:a") == ("mp", "a", None)
    for bad in ("xp:1", "xp:1:2", "mp", "spx", "sp:1", "xp::0"):
        with pytest.raises(ValueError, match="malformed stream name"):
            Stream(bad)


class OneStepGame:
    """Every episode is one step: both seats get 1 when seat 0 plays action 0, else 0."""

    num_actions = 2
    observation_shape = (3,)

    def __init__(self, num_envs: int):
        self.num_envs, self.device = num_envs, torch.device("cpu")

    def reset(self, seed=None, options=None):
        return torch.ones(self.num_envs, 2, 3), {}

    def step(self, actions):
        reward = (actions[:, :1] == 0).float().expand(-1, 2).clone()
        done = torch.ones(self.num_envs, dtype=torch.bool)
        return torch.ones(self.num_envs, 2, 3), reward, done, ~done, {}


def _prob_of_action0_after_update(xp_weight: float) -> tuple[float, float]:
    env = OneStepGame(64)
    config = PPOConfig(lr=1e-2, ent_coef=0.0, epochs=1, minibatches=1, anneal_lr=False)
    kwargs = {"obs_shape": [3], "num_outputs": 2, "hidden": 8, "layers": 1}
    streams = (Stream("sp"), Stream("xp:1:0", xp_weight))
    learner = Learner("mlp", kwargs, config, seed=0, streams=streams)
    actors = [learner.policy(), ConstantPolicy(1)]
    obs, _ = env.reset()
    state = initial_state(obs, torch.tensor([[0, 1]]).repeat(64, 1), actors)
    rollout = collect_rollout(env, state, actors, 4, torch.Generator().manual_seed(0))

    def p0():
        with torch.no_grad():
            return float(torch.softmax(learner.actor(torch.ones(1, 3))[0], -1)[0, 0])

    before = p0()
    ppo_update(
        learner, learner_batch(rollout, learner, 0), config, torch.Generator().manual_seed(1)
    )
    return before, p0()


def test_flipping_the_xp_weight_flips_the_policy_update_on_the_xp_action():
    before, up = _prob_of_action0_after_update(+1.0)
    same, down = _prob_of_action0_after_update(-1.0)
    assert before == same
    assert up > before + 1e-3  # maximising the XP return: more of the rewarded action
    assert down < before - 1e-3  # minimising it: less


# ----------------------------------------------------------- several learners
def _take_copies(ro: Rollout, rows: torch.Tensor) -> Rollout:
    """The rollout restricted to copies ``rows`` (as if only they had been played)."""
    streams = torch.stack([2 * rows, 2 * rows + 1], dim=1).reshape(-1)
    on_copies = {
        f.name: getattr(ro, f.name)[:, rows]
        for f in dataclasses.fields(ro)
        if isinstance(getattr(ro, f.name), torch.Tensor) and f.name != "last_obs"
    }
    carries = [None if c is None else c[streams] for c in ro.start_carries]
    return dataclasses.replace(ro, **on_copies, last_obs=ro.last_obs[rows], start_carries=carries)


def _two_learners_and_a_rollout(gru: int = 0):
    env = make("MPPMR-v0", num_envs=48)
    config = PPOConfig(epochs=1, minibatches=1)
    kwargs = {"obs_shape": list(env.observation_shape), "num_outputs": env.num_actions, "gru": gru}
    a = Learner(
        "mlp", kwargs, config, 0, streams=(Stream("sp"), Stream("xp:1:*", -0.5), Stream("xp:2:0"))
    )
    b = Learner(
        "mlp", kwargs, config, 5, streams=(Stream("sp"), Stream("xp:0:0", -0.25), Stream("xp:2:1"))
    )
    actors = [a.policy(), b.policy(), ConstantPolicy(1)]
    blocks = [[0, 0], [1, 1], [0, 1], [1, 0], [0, 2], [2, 1]]
    seats = torch.tensor(blocks).repeat_interleave(8, dim=0)
    obs, _ = env.reset(seed=3)
    state = initial_state(obs, seats, actors)
    gen = torch.Generator().manual_seed(4)
    collect_rollout(env, state, actors, 8, gen)  # start mid-episode, with carries
    return a, b, seats, collect_rollout(env, state, actors, 24, gen)


def _gradient(learner: Learner, rollout: Rollout, index: int) -> torch.Tensor:
    batch = learner_batch(rollout, learner, index)
    learner.optimizer.zero_grad()
    if learner.actor.recurrent:
        from xpm_bench.rl.ppo import _update_streams

        grads = []
        lr = learner.optimizer.param_groups[0]["lr"]
        learner.set_lr(0.0)  # a step with lr 0 leaves the weights; read the gradient it used
        _update_streams(learner, batch, learner.config, torch.Generator().manual_seed(0))
        learner.set_lr(lr)
        for p in list(learner.actor.parameters()) + list(learner.critic.parameters()):
            grads.append(p.grad.reshape(-1))
        return torch.cat(grads)
    loss, _ = minibatch_loss(learner, flat_samples(learner, batch), learner.config)
    loss.backward()
    params = list(learner.actor.parameters()) + list(learner.critic.parameters())
    return torch.cat([p.grad.reshape(-1) for p in params])


@pytest.mark.parametrize("gru", [0, 8])
def test_each_learner_gets_the_gradient_of_its_own_samples_alone(gru):
    a, b, seats, rollout = _two_learners_and_a_rollout(gru)
    for learner, index in ((a, 0), (b, 1)):
        own = (seats == index).any(dim=1).nonzero().squeeze(-1)
        joint = _gradient(learner, rollout, index)
        alone = _gradient(learner, _take_copies(rollout, own), index)
        assert joint.abs().sum() > 0
        torch.testing.assert_close(joint, alone, rtol=1e-4, atol=1e-6)
    # the test can fail: changing rewards on B's self-play copies moves B's gradient, not A's
    changed = dataclasses.replace(rollout, rewards=rollout.rewards.clone())
    changed.rewards[:, 8:16] += 1.0
    torch.testing.assert_close(_gradient(a, changed, 0), _gradient(a, rollout, 0))
    assert not torch.allclose(_gradient(b, changed, 1), _gradient(b, rollout, 1))


# ----------------------------------------------------------------- determinism
def _mixed_two_learner_run() -> list[dict[str, torch.Tensor]]:
    from xpm_bench.rl.ppo import update_learners

    env = make("OvercookedClassic-CrampedRoom-v0", num_envs=8)
    config = PPOConfig(epochs=2, minibatches=2)
    kwargs = {
        "obs_shape": list(env.observation_shape),
        "num_outputs": env.num_actions,
        "hidden": 16,
    }
    a = Learner("mlp", kwargs, config, 0, streams=(Stream("sp"), Stream("xp:1:*", -0.25)))
    b = Learner("mlp", kwargs, config, 7, streams=(Stream("sp"), Stream("mp:0")))
    actors = [a.policy(), b.policy()]
    seats = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]]).repeat(2, 1)
    mix = seats.clone()
    mix[6:, 1] = 0  # copies 6-7: b's self-play with a mixed in before step 50
    switch = torch.where(torch.arange(8) >= 6, 50, 0)
    obs, _ = env.reset(seed=0)
    state = initial_state(obs, Seating(seats, mix, torch.full((8,), 0.5), switch), actors)
    gen = torch.Generator().manual_seed(1)
    for _ in range(2):
        rollout = collect_rollout(env, state, actors, 64, gen)
        update_learners([a, b], [0, 1], rollout, gen)
    return [a.actor.state_dict(), b.actor.state_dict(), a.critic.state_dict()]


def test_same_seed_gives_bit_identical_weights():
    first, second = _mixed_two_learner_run(), _mixed_two_learner_run()
    for x, y in zip(first, second, strict=True):
        assert all(torch.equal(x[k], y[k]) for k in x)
