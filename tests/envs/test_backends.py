"""The numba backend against the torch engine: whole trajectories bit for bit, and selection.

Each trajectory records every output of every step (observations, rewards, flags, every
``info`` entry) and a state snapshot now and then; both backends get the same actions, resets
with seeds, ``set_state`` jumps and reward-weight changes. Tensors must match in dtype, shape
and bits.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import xpm_bench
from xpm_bench.envs import backends
from xpm_bench.envs.overcooked.layout import NUM_CODES, SOUP, STARTED, layout_names
from xpm_bench.errors import ActionError, EnvArgumentError

# the envs with compiled kernels (CMG has none: a step is a handful of torch ops)
ENV_IDS = [
    i for i in xpm_bench.registered_ids() if xpm_bench.make(i, backend="torch").numba_kernels
]
STEPS = 130
SHORT = {"horizon": 50}  # Overcooked at a short horizon: several auto-resets, urgency channel


def trajectory(env_id: str, backend: str, num_envs: int, steps: int, **kwargs) -> list:
    """Every output of a scripted session: random actions, a snapshot restored midway, a
    reseeded reset and a reward-weight change."""
    env = xpm_bench.make(env_id, num_envs=num_envs, backend=backend, **kwargs)
    gen = torch.Generator().manual_seed(7)
    actions = torch.randint(env.num_actions, (steps, num_envs, 2), generator=gen)
    obs, _ = env.reset(seed=3)
    record = [("reset", obs.clone())]
    snapshot = None
    for t, a in enumerate(actions):
        if t == steps // 3:
            snapshot = env.get_state()
        if t == steps // 2:
            env.set_state(snapshot)  # jump back: replays a stretch from the snapshot
        if t == 2 * steps // 3:
            obs, _ = env.reset(seed=11)
            record.append(("reset", obs.clone()))
            weights = torch.rand(2, 2, env.num_events, generator=gen)  # not exact in any order
            env.set_reward_weights(weights)
        obs, rew, term, trunc, info = env.step(a)
        record += [("obs", obs.clone()), ("rew", rew), ("term", term), ("trunc", trunc)]
        record += [(key, info[key].clone()) for key in sorted(info)]
        if t % 37 == 0:
            state = env.get_state()
            record += [(f"state.{k}", v) for k, v in sorted(state.items()) if torch.is_tensor(v)]
    return record


def assert_same(torch_run: list, numba_run: list) -> None:
    assert [k for k, _ in torch_run] == [k for k, _ in numba_run]
    for i, ((key, x), (_, y)) in enumerate(zip(torch_run, numba_run)):
        assert x.dtype == y.dtype and x.shape == y.shape, (i, key)
        # bit patterns, so that -0.0 / 0.0 or NaN payloads would count as differences
        assert np.array_equal(x.numpy().view(np.uint8), y.numpy().view(np.uint8)), (i, key)


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("num_envs", [1, 33])  # 33: Overcooked's reused output buffers
def test_whole_trajectories_are_bit_identical(env_id, num_envs):
    kwargs = SHORT if env_id.startswith("Overcooked") else {}
    run = {b: trajectory(env_id, b, num_envs, STEPS, **kwargs) for b in backends.ENGINES}
    assert_same(run["torch"], run["numba"])


@pytest.mark.parametrize("layout", ["cramped_room_tomato", "bonus_order_test", "tutorial_3"])
def test_tomato_and_multi_recipe_layouts_are_bit_identical(layout):
    for env_id in ("Overcooked-v0", "OvercookedClassic-v0"):
        run = {b: trajectory(env_id, b, 8, STEPS, layout=layout, **SHORT) for b in backends.ENGINES}
        assert_same(run["torch"], run["numba"])


def test_every_object_code_and_timer_encodes_identically():
    """Every object code, with timers from far below zero to past the cook time, on every
    counter and pot, and held by both players: the two encoders agree everywhere."""
    envs = {
        b: xpm_bench.make("OvercookedClassic-v0", num_envs=64, backend=b) for b in backends.ENGINES
    }
    env = envs["torch"]
    env.reset(seed=0)
    state = env.get_state()
    layout = env.layout
    holders = np.flatnonzero(layout.terrain != 0)  # counters, pots, dispensers, serving
    gen = torch.Generator().manual_seed(1)
    codes = torch.arange(NUM_CODES).repeat(2)[: len(state["code"])]
    for b in range(64):
        code = torch.zeros(layout.num_cells, dtype=torch.uint8)
        timer = torch.zeros(layout.num_cells, dtype=torch.int16)
        code[holders] = torch.randint(NUM_CODES, (len(holders),), generator=gen, dtype=torch.uint8)
        code[holders[0]] = int(codes[b])
        timer[holders] = torch.randint(-600, 300, (len(holders),), generator=gen, dtype=torch.int16)
        state["code"][b], state["timer"][b] = code, timer
        state["held"][b] = torch.tensor([b % NUM_CODES, SOUP | STARTED | (b % 4)])
        state["held_timer"][b] = torch.randint(-600, 300, (2,), generator=gen, dtype=torch.int16)
    state["t"] = torch.randint(0, 400, (64,), generator=gen)
    observed = {}
    for backend, e in envs.items():
        e.set_state(state)
        observed[backend] = e._observe().clone()
    assert torch.equal(observed["torch"], observed["numba"])
    assert observed["numba"][:, :, 16:25].sum() > 0


def test_no_autoreset_keeps_the_final_state_in_both_backends():
    runs = {}
    for backend in backends.ENGINES:
        env = xpm_bench.make("MPPMR-v0", num_envs=4, backend=backend)
        env.autoreset = False
        env.reset(seed=0)
        outs = []
        for a in torch.full((20, 4, 2), 5, dtype=torch.int64):  # quit, again and again
            obs, rew, term, trunc, info = env.step(a)
            outs.append(torch.cat([obs.flatten(), info["episode_length"].float()]))
        runs[backend] = torch.stack(outs)
    assert torch.equal(runs["torch"], runs["numba"])


def test_rewards_from_events_agree_after_a_step():
    for env_id in ("Overcooked-CrampedRoom-v0", "MPPMR-v0"):
        out = {}
        for backend in backends.ENGINES:
            env = xpm_bench.make(env_id, num_envs=8, backend=backend)
            env.reset(seed=0)
            gen = torch.Generator().manual_seed(0)
            env.set_reward_weights(torch.rand(2, 2, env.num_events, generator=gen))
            _, rew, _, _, info = env.step(torch.randint(6, (8, 2), generator=gen))
            out[backend] = (rew, env.rewards_from_events(info["events"]))
        assert torch.equal(out["torch"][0], out["numba"][0])
        assert torch.equal(out["torch"][1], out["numba"][1])


def test_numba_rejects_bad_actions_without_changing_anything():
    env = xpm_bench.make("Overcooked-CrampedRoom-v0", num_envs=40, backend="numba")
    obs, _ = env.reset(seed=0)
    first = obs.clone()
    before = env.get_state()
    with pytest.raises(ActionError, match=r"\[0, 5\].*got values in \[0, 6\]"):
        env.step(torch.tensor([[6, 0]] + [[0, 0]] * 39))
    after = env.get_state()
    assert all(torch.equal(before[k], after[k]) for k in env.state_keys)
    env.step(torch.zeros(40, 2, dtype=torch.int64))
    assert torch.equal(obs, first)  # the reset's buffer was not the one overwritten
    env.step(torch.zeros(40, 2, dtype=torch.int32))  # other integer dtypes are converted


def test_numba_rejects_states_outside_the_layout():
    env = xpm_bench.make("Overcooked-CrampedRoom-v0", num_envs=2, backend="numba")
    state = env.get_state()
    state["code"] = state["code"].clone()
    state["code"][0, 0] = NUM_CODES
    with pytest.raises(EnvArgumentError, match=r"state\['code'\].*accepted: 0 to 63"):
        env.set_state(state)
    mppmr = xpm_bench.make("MPPMR-v0", num_envs=2, backend="numba")
    with pytest.raises(EnvArgumentError, match=r"state\['pos'\].*accepted"):
        mppmr.set_state({"pos": torch.full((2, 2), 10_000), "t": torch.zeros(2)})


def test_backend_selection():
    assert xpm_bench.make("MPPMR-v0", backend="torch").backend == "torch"
    assert xpm_bench.make("MPPMR-v0", backend="numba").backend == "numba"
    assert xpm_bench.make("Overcooked-CrampedRoom-v0").backend == "numba"  # auto on CPU
    assert backends.resolve_backend("auto", torch.device("cuda"), 16) == "torch"
    big = xpm_bench.make("OvercookedClassic-CrampedRoom-v0").numba_up_to
    if big is not None:
        assert backends.resolve_backend("auto", torch.device("cpu"), big + 1, True, big) == "torch"
    with pytest.raises(EnvArgumentError, match="accepted: auto, torch, numba"):
        xpm_bench.make("MPPMR-v0", backend="jax")
    with pytest.raises(EnvArgumentError, match="CPU only"):
        backends.resolve_backend("numba", torch.device("cuda"), 1)


def test_order_safe_weights():
    exact = backends.sums_exact_in_any_order
    assert exact(torch.tensor([0.5, 0.0, 20.0, 3.0, -1.0]))
    assert not exact(torch.tensor([3 * 0.37, 1.0]))  # bits below one another's range
    assert not exact(torch.tensor([float("inf"), 1.0]))
    assert not exact(torch.tensor([2.0**-30, 1.0]))


def test_every_shipped_layout_builds_on_numba():
    for layout in layout_names():
        env = xpm_bench.make("Overcooked-v0", num_envs=2, layout=layout, backend="numba")
        obs, _ = env.reset(seed=0)
        obs2, *_ = env.step(torch.randint(6, (2, 2)))
        assert obs2.shape == obs.shape
