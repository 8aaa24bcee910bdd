"""The one rollout engine: evaluation parity with the pre-merge evaluator, mixed play, carries,
ledger kinds from the seating, and a non-real env behind the same interface."""

from __future__ import annotations

import pytest
import torch

from xpm_bench.agents.base import ConstantPolicy, RandomPolicy
from xpm_bench.agents.networks import NetPolicy, build_network, default_arch
from xpm_bench.io import tensor_digest
from xpm_bench.registry import make
from xpm_bench.rl.ledger import Ledger, MeteredEnv
from xpm_bench.rl.rollout import Seating, collect_rollout, initial_state
from xpm_bench.rl.streams import Stream, stream_ids
from xpm_bench.rollout import play_pairs

FIELDS = ("returns", "lengths", "events", "terminated")


def _nets(env, grus, seed0):
    out = []
    for i, gru in enumerate(grus):
        _, kwargs = default_arch(tuple(env.observation_shape), env.num_actions, hidden=16, layers=1)
        kwargs["gru"] = gru
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed0 + i)
            out.append(NetPolicy(build_network("mlp", kwargs), seed=100 + i))
    return out


def _mppmr_population():
    from xpm_bench.agents.scripted import mppmr_convention_agents

    env = make("MPPMR-v0")
    conv = mppmr_convention_agents(env)
    return _nets(env, [0, 8], 0) + [
        RandomPolicy(env.num_actions, seed=3),
        conv[(1, 0)],
        conv[(2, 1)],
    ]


def _overcooked_population():
    from xpm_bench.agents.overcooked_scripted import OvercookedCook

    env = make("OvercookedClassic-CrampedRoom-v0")
    return _nets(env, [8], 10) + [OvercookedCook("onion", seed=1), OvercookedCook("full", seed=2)]


def _digests(env_id, population, episodes, seed):
    pairs = [(a, b) for a in population for b in population]
    batch = play_pairs(env_id, pairs, episodes=episodes, seed=seed)
    return {k: tensor_digest(getattr(batch, k))["sha256"][:16] for k in FIELDS}


# Recorded with the evaluator before the merge (commit 2137935, xpm_bench/rollout.py's own loop).
PRE_MERGE = {
    "MPPMR-v0": {
        "returns": "3c8d19080a6db167",
        "lengths": "37d013747fdb8072",
        "events": "66692f0369595ff3",
        "terminated": "720b7591791fe0dd",
    },
    "OvercookedClassic-CrampedRoom-v0": {
        "returns": "aa7cfc40644498ab",
        "lengths": "e8d94a03632f6e20",
        "events": "bc2bbb5f568c84a8",
        "terminated": "3e7077fd2f66d689",
    },
}


@pytest.mark.parametrize(
    "env_id, build, episodes, seed",
    [
        ("MPPMR-v0", _mppmr_population, 3, 11),
        ("OvercookedClassic-CrampedRoom-v0", _overcooked_population, 1, 5),
    ],
)
def test_play_pairs_scores_what_the_pre_merge_evaluator_scored(env_id, build, episodes, seed):
    # stochastic nets (one recurrent), scripted agents with tuple carries and own RNGs: every
    # policy must see the same calls, rows and carries as before for the digests to agree
    assert _digests(env_id, build(), episodes, seed) == PRE_MERGE[env_id]


# ------------------------------------------------------------------ mixed play
class CountingPolicy:
    """Always ``action``; its carry counts the steps it played on each row since a reset."""

    def __init__(self, action: int):
        self.action = action

    def reset_carry(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, dtype=torch.int64)

    def act(self, obs, carry=None):
        return torch.full((obs.shape[0],), self.action, dtype=torch.int64), carry + 1


def _mixed_rollout(num_steps=48, switch=6, b=64):
    env = MeteredEnv(make("MPPMR-v0", num_envs=b), Ledger())
    actors = [CountingPolicy(0), CountingPolicy(1)]  # stay, up: nobody quits or meets
    seats = torch.zeros(b, 2, dtype=torch.int64)
    mix = torch.tensor([[0, 1]]).repeat(b, 1)
    seating = Seating(seats, mix, torch.full((b,), 0.5), torch.full((b,), switch))
    obs, _ = env.reset(seed=0)
    state = initial_state(obs, seating, actors)
    gen = torch.Generator().manual_seed(0)
    return env, state, collect_rollout(env, state, actors, num_steps, gen)


def test_mixed_play_draws_the_partner_from_the_mix_until_the_switch():
    env, state, ro = _mixed_rollout()
    step_in_episode = torch.zeros_like(ro.dones, dtype=torch.int64)
    count = torch.zeros(ro.dones.shape[1], dtype=torch.int64)
    for t in range(ro.num_steps):
        count = torch.where(ro.starts[t], 0, count)
        step_in_episode[t] = count
        count = count + 1
    pre = step_in_episode < 6
    assert torch.equal(ro.pre_switch, pre)
    seat1 = ro.controller[..., 1]
    # before the switch the partner seat is pi_0 or pi_1 (about half each), after it pi_0
    assert set(seat1[pre].unique().tolist()) == {0, 1}
    assert 0.4 < float((seat1[pre] == 1).float().mean()) < 0.6
    assert bool((seat1[~pre] == 0).all()) and bool((ro.controller[..., 0] == 0).all())
    assert torch.equal(ro.actions[..., 1], seat1)  # the actions came from the drawn actor
    # only post-switch steps enter the mp stream, the learner's samples in both seats
    sid = stream_ids(ro.controller, ro.pre_switch, ro.mix_partner, 0, [Stream("mp:1")], ro.names)
    assert bool((sid[~pre] == 0).all()) and bool((sid[pre] == -1).all())
    assert bool(
        (
            stream_ids(ro.controller, ro.pre_switch, ro.mix_partner, 1, [Stream("mp:*")], ro.names)
            == -1
        ).all()
    )
    # the harness charged every step of these copies as mixed play
    assert env.ledger.env_steps_by_kind == {"sp": 0, "xp": 0, "mp": 48 * 64}


def test_carries_stay_with_their_actor_across_switches_and_resets():
    _, state, ro = _mixed_rollout(num_steps=40)
    # each actor's carry on a seat stream counts the steps it played there since the last
    # episode start: switching the seat to another actor leaves it untouched
    last_start = torch.zeros(ro.dones.shape[1], dtype=torch.int64)
    for t in range(ro.num_steps):
        last_start = torch.where(ro.starts[t], t, last_start)
    steps = torch.arange(ro.num_steps).view(-1, 1)
    current = steps >= last_start.view(1, -1)
    for k, store in enumerate(state.carries):
        played = ((ro.controller == k) & current.unsqueeze(-1)).sum(dim=0)  # [B, 2]
        assert torch.equal(store.value.view(-1, 2), played)


# ------------------------------------------------------------ non-real envs
class OneStepGame:
    """A batched one-step game with a float 'terminated' (a world-model continuation):
    reward 1 to both seats when seat 0 plays action 0, else 0; obs are ones."""

    num_actions = 2
    observation_shape = (3,)

    def __init__(self, num_envs: int, continuation: float = 0.0):
        self.num_envs = num_envs
        self.device = torch.device("cpu")
        self.continuation = continuation

    def _obs(self):
        return torch.ones(self.num_envs, 2, 3)

    def reset(self, seed=None, options=None):
        return self._obs(), {}

    def step(self, actions):
        reward = (actions[:, :1] == 0).float().expand(-1, 2).clone()
        term = torch.full((self.num_envs,), 1.0 - self.continuation)
        trunc = torch.ones(self.num_envs, dtype=torch.bool)
        return self._obs(), reward, term, trunc, {"final_obs": self._obs()}


def test_engine_drives_a_non_real_env_with_float_continuations():
    env = OneStepGame(8, continuation=0.25)
    actors = [ConstantPolicy(0), ConstantPolicy(1)]
    seats = torch.tensor([[0, 1]] * 4 + [[1, 0]] * 4)
    obs, _ = env.reset()
    state = initial_state(obs, seats, actors)
    ro = collect_rollout(env, state, actors, 3, torch.Generator().manual_seed(0))
    torch.testing.assert_close(ro.continues, torch.full((3, 8), 0.25))
    assert bool(ro.truncated.all()) and ro.final_obs is not None
    assert torch.equal(ro.rewards[..., 0], (seats[:, 0] == 0).float().expand(3, -1))
