"""Conformance tests run on every registered environment and engine backend (parametrised
over the registry and over ``xpm_bench.envs.backends.ENGINES``; ``numba`` only for envs that
have compiled kernels)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import parallel_api_test

import xpm_bench
from xpm_bench.agents import RandomPolicy
from xpm_bench.envs.backends import ENGINES
from xpm_bench.errors import ActionError

ENV_IDS = xpm_bench.registered_ids()
STEPS = 200


def has_kernels(env_id: str) -> bool:
    return xpm_bench.make(env_id, backend="torch").numba_kernels


# every (env, engine) pair the env runs on
ENV_BACKENDS = [
    (env_id, backend)
    for env_id in ENV_IDS
    for backend in ENGINES
    if backend == "torch" or has_kernels(env_id)
]
env_and_backend = pytest.mark.parametrize("env_id,backend", ENV_BACKENDS)


def random_actions(env, steps: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(env.num_actions, (steps, env.num_envs, 2), generator=gen)


def rollout(env, actions: torch.Tensor, seed: int = 0) -> list:
    """Every output of every step, as a list of tensors (info entries included)."""
    obs, _ = env.reset(seed=seed)
    out = [obs.clone()]
    for a in actions:
        obs, rew, term, trunc, info = env.step(a)
        out += [obs.clone(), rew.clone(), term.clone(), trunc.clone()]
        out += [info[k].clone() for k in sorted(info)]
    return out


@env_and_backend
def test_pettingzoo_parallel_api(env_id, backend):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel_api_test(xpm_bench.make_parallel(env_id, backend=backend), num_cycles=100)


@env_and_backend
def test_gymnasium_env_checker(env_id, backend):
    env = xpm_bench.make_single_agent(
        env_id, partner=RandomPolicy(6, seed=1), seat="random", backend=backend
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env, skip_render_check=True)


@env_and_backend
def test_same_seed_same_actions_same_trajectory(env_id, backend):
    env_a = xpm_bench.make(env_id, num_envs=3, backend=backend)
    env_b = xpm_bench.make(env_id, num_envs=3, backend=backend)
    actions = random_actions(env_a, STEPS, seed=5)
    run_a, run_b = rollout(env_a, actions), rollout(env_b, actions)
    assert len(run_a) == len(run_b)
    for x, y in zip(run_a, run_b, strict=True):
        assert torch.equal(x, y)


def per_copy_rollout(env, actions: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """Per step: obs, reward, flags, events, and the episode results of copies that finished."""
    env.reset(seed=0)
    steps = []
    for a in actions:
        obs, rew, term, trunc, info = env.step(a)
        done = term | trunc
        record = {"obs": obs, "rew": rew, "term": term, "trunc": trunc, "events": info["events"]}
        for key in ("final_obs", "episode_return", "episode_length", "episode_events"):
            if key in info:  # present only on steps where a copy finished: keep finished rows
                record[key] = torch.where(done.view(-1, *[1] * (info[key].dim() - 1)), info[key], 0)
        steps.append({k: v.clone() for k, v in record.items()})
    return steps


@env_and_backend
def test_batched_equals_single_copies(env_id, backend):
    batch = 4
    env = xpm_bench.make(env_id, num_envs=batch, backend=backend)
    actions = random_actions(env, STEPS, seed=9)
    batched = per_copy_rollout(env, actions)
    for i in range(batch):
        single = per_copy_rollout(
            xpm_bench.make(env_id, num_envs=1, backend=backend), actions[:, i : i + 1]
        )
        for t, (b_step, s_step) in enumerate(zip(batched, single, strict=True)):
            for key, value in s_step.items():
                assert torch.equal(b_step[key][i : i + 1], value), (t, key)
            finished_here = bool(s_step["term"][0] or s_step["trunc"][0])
            assert ("episode_return" in s_step) == finished_here


@env_and_backend
def test_episodes_reset_and_truncate_at_horizon(env_id, backend):
    env = xpm_bench.make(env_id, num_envs=2, backend=backend)
    env.reset(seed=0)
    stay = env.action_names.index("stay")
    actions = torch.full((2, 2), stay, dtype=torch.int64)
    # idling into the horizon truncates; a one-step game (CMG) is over after its step
    ends_by = "term" if env.horizon == 1 else "trunc"
    for t in range(1, env.horizon + 1):
        obs, rew, term, trunc, info = env.step(actions)
        flags = {"term": term, "trunc": trunc}
        assert not flags["trunc" if ends_by == "term" else "term"].any()
        assert bool(flags[ends_by].all()) == (t == env.horizon)
    assert torch.equal(info["episode_length"], torch.full((2,), env.horizon))
    first_obs, _ = xpm_bench.make(env_id, num_envs=2, backend=backend).reset(seed=0)
    assert torch.equal(obs, first_obs)  # auto-reset returned the next episode's first obs


@env_and_backend
def test_shapes_dtypes_and_rewards_from_events(env_id, backend):
    env = xpm_bench.make(env_id, num_envs=5, backend=backend)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (5, 2, *env.observation_shape) and obs.dtype == env.observation_dtype
    for a in random_actions(env, 50, seed=3):
        obs, rew, term, trunc, info = env.step(a)
        assert rew.shape == (5, 2) and term.dtype == torch.bool and trunc.dtype == torch.bool
        assert info["events"].shape == (5, 2, env.num_events) == (5, 2, len(env.event_names))
        expected = torch.einsum("bpe,ipe->bi", info["events"], env.reward_weights)
        assert torch.equal(rew, expected)


@env_and_backend
def test_state_snapshot_round_trip(env_id, backend):
    env = xpm_bench.make(env_id, num_envs=3, backend=backend)
    env.reset(seed=0)
    actions = random_actions(env, 40, seed=4)
    for a in actions[:20]:
        env.step(a)
    snapshot = env.get_state()
    later = [env.step(a)[:4] for a in actions[20:]]
    env.set_state(snapshot)
    replay = [env.step(a)[:4] for a in actions[20:]]
    for x, y in zip(later, replay, strict=True):
        for u, v in zip(x, y, strict=True):
            assert torch.equal(u, v)


@env_and_backend
def test_bad_actions_are_rejected_clearly(env_id, backend):
    env = xpm_bench.make(env_id, num_envs=2, backend=backend)
    env.reset()
    with pytest.raises(ActionError, match=r"shape \(2, 2\)"):
        env.step(torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ActionError, match="must be integers"):
        env.step(torch.zeros(2, 2))
    with pytest.raises(ActionError, match=rf"\[0, {env.num_actions - 1}\]"):
        env.step(torch.full((2, 2), env.num_actions))
    with pytest.raises(ActionError, match=r"\[0, "):
        env.step(torch.full((2, 2), -1))


@env_and_backend
def test_renders(env_id, backend):
    env = xpm_bench.make(env_id, backend=backend)
    env.reset(seed=0)
    text = env.render("ansi")
    assert isinstance(text, str) and len(text.splitlines()) >= 3
    img = env.render("rgb_array")
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3
    assert img.shape[2] == 3 and img.std() > 0
