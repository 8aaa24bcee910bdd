"""The Gymnasium vector view (``make_vec``): against the batched env it wraps, partner draws,
recurrent carries, same-step autoreset, seeding, and an SB3 PPO ego trained through it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics

import xpm_bench
from xpm_bench.agents import ConstantPolicy, RandomPolicy
from xpm_bench.agents.scripted import mppmr_convention_agents
from xpm_bench.errors import ActionError, EnvArgumentError

ENV_IDS = ["MPPMR-v0", "OvercookedClassic-CrampedRoom-v0"]


def ego_actions(env, steps: int, batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(env.single_action_space.n, size=(steps, batch))


@pytest.mark.parametrize(
    ("env_id", "seat"),
    [("MPPMR-v0", 0), ("MPPMR-v0", 1), ("MPPMR-v0", "random"), (ENV_IDS[1], "random")],
)
def test_view_steps_the_batched_env_with_the_partner_in_the_other_seat(env_id, seat):
    """Replay the view's joint actions on a plain batched env: every output agrees."""
    batch, steps = 6, 410 if env_id.startswith("Overcooked") else 60
    view = xpm_bench.make_vec(env_id, batch, partner=RandomPolicy(6), seat=seat)
    raw = xpm_bench.make(env_id, num_envs=batch)
    twin = RandomPolicy(6)  # the partner's twin, seeded as the view seeds its partner
    obs, info = view.reset(seed=3)
    raw_obs, _ = raw.reset(seed=3)
    twin.reseed(3 + 1)
    rows = np.arange(batch)
    finished = 0
    for actions in ego_actions(view, steps, batch):
        seats = info["seat"]
        np.testing.assert_array_equal(obs, raw_obs[rows, seats].numpy())
        joint = torch.zeros(batch, 2, dtype=torch.int64)
        joint[rows, seats] = torch.as_tensor(actions)
        joint[rows, 1 - seats] = twin.act(raw_obs[rows, 1 - seats])[0]
        obs, reward, term, trunc, info = view.step(actions)
        raw_obs, raw_reward, raw_term, raw_trunc, raw_info = raw.step(joint)
        np.testing.assert_array_equal(reward, raw_reward[rows, seats].numpy())
        np.testing.assert_array_equal(term, raw_term.numpy())
        np.testing.assert_array_equal(trunc, raw_trunc.numpy())
        np.testing.assert_array_equal(info["events"], raw_info["events"][rows, seats].numpy())
        done = term | trunc
        assert ("final_obs" in info) == bool(done.any())
        if done.any():
            finished += int(done.sum())
            np.testing.assert_array_equal(info["_final_obs"], done)
            final = raw_info["final_obs"][rows, seats].numpy()
            for i in np.flatnonzero(done):
                np.testing.assert_array_equal(info["final_obs"][i], final[i])
            returns = raw_info["episode_return"][rows, seats].numpy()
            np.testing.assert_array_equal(info["final_info"]["episode_return"][done], returns[done])
            np.testing.assert_array_equal(info["final_info"]["seat"], seats)
    assert finished >= batch  # every copy finished at least one episode
    if seat != "random":
        assert (info["seat"] == seat).all()


def test_view_is_a_gymnasium_vector_env_with_same_step_autoreset():
    view = xpm_bench.make_vec("MPPMR-v0", 4, partner=RandomPolicy(6))
    assert isinstance(view, VectorEnv) and view.num_envs == 4
    assert view.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    obs, _ = view.reset(seed=0)
    assert view.observation_space.contains(obs) and obs.shape == (4, 115)
    assert view.single_action_space.n == 6 and view.action_space.shape == (4,)
    # Gymnasium's episode statistics wrapper reads the same-step convention right
    stats = RecordEpisodeStatistics(xpm_bench.make_vec("MPPMR-v0", 4, partner=RandomPolicy(6)))
    stats.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(40):
        _, _, term, trunc, info = stats.step(rng.integers(6, size=4))
        if "episode" in info:
            done = term | trunc
            np.testing.assert_array_equal(
                info["episode"]["r"][done], info["final_info"]["episode_return"][done]
            )
            np.testing.assert_array_equal(
                info["episode"]["l"][done], info["final_info"]["episode_length"][done]
            )


def test_each_episode_draws_its_partner_and_seat():
    partners = [ConstantPolicy(a) for a in (1, 2, 3)]  # up, down, left: tell them apart
    view = xpm_bench.make_vec("MPPMR-v0", 64, partner=partners, seat="random")
    obs, info = view.reset(seed=0)
    episodes: list[tuple[int, int]] = []
    current = list(zip(info["partner"], info["seat"], strict=True))
    for _ in range(16 * 6):  # every MPPMR episode ends within 16 steps
        before = info
        _, _, term, trunc, info = view.step(np.zeros(64, dtype=np.int64))
        joint = view._joint
        rows = np.arange(64)
        partner_seat = 1 - before["seat"]
        np.testing.assert_array_equal(joint[rows, partner_seat].numpy(), before["partner"] + 1)
        done = term | trunc
        for i in np.flatnonzero(done):
            assert (info["final_info"]["partner"][i], info["final_info"]["seat"][i]) == current[i]
            episodes.append(current[i])
        not_done = ~done
        np.testing.assert_array_equal(info["partner"][not_done], before["partner"][not_done])
        np.testing.assert_array_equal(info["seat"][not_done], before["seat"][not_done])
        current = list(zip(info["partner"], info["seat"], strict=True))
    counts = np.bincount([3 * s + p for p, s in episodes], minlength=6)
    assert len(episodes) >= 300 and counts.min() >= len(episodes) / 6 * 0.6


class CountingPartner:
    """A recurrent partner whose carry counts its steps in the current episode; it acts 'stay'
    and records the carry it was handed."""

    def __init__(self):
        self.seen: list[torch.Tensor] = []

    def reset_carry(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, 1)

    def act(self, obs, carry):
        self.seen.append(carry.clone())
        return torch.zeros(obs.shape[0], dtype=torch.int64), carry + 1


def test_recurrent_partner_carries_reset_per_copy_at_each_episode():
    partner = CountingPartner()
    view = xpm_bench.make_vec("MPPMR-v0", 8, partner=partner)
    view.reset(seed=0)
    rng = np.random.default_rng(1)
    lengths = np.zeros(8, dtype=int)  # steps so far in each copy's episode
    for _ in range(60):
        _, _, term, trunc, _ = view.step(rng.integers(6, size=8))
        np.testing.assert_array_equal(partner.seen[-1][:, 0].numpy(), lengths)
        lengths += 1
        lengths[term | trunc] = 0
    assert (lengths < 16).all() and len({int(x) for x in partner.seen[-1][:, 0]}) > 1


def test_same_seed_same_run_and_seeded_partners():
    def run(seed):
        pop = [RandomPolicy(6, seed=9), RandomPolicy(6, seed=9)]
        view = xpm_bench.make_vec("MPPMR-v0", 16, partner=pop, seat="random")
        out = [view.reset(seed=seed)[0]]
        for actions in ego_actions(view, 40, 16):
            obs, reward, term, trunc, info = view.step(actions)
            out += [obs, reward, term, trunc, info["seat"], info["partner"]]
        return out

    first, again, other = run(5), run(5), run(6)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_bad_input_is_rejected_clearly():
    with pytest.raises(EnvArgumentError, match="seat must be 0, 1 or 'random'"):
        xpm_bench.make_vec("MPPMR-v0", 2, partner=RandomPolicy(6), seat=2)
    with pytest.raises(EnvArgumentError, match="partner must be"):
        xpm_bench.make_vec("MPPMR-v0", 2, partner=[])
    view = xpm_bench.make_vec("MPPMR-v0", 2, partner=RandomPolicy(6))
    with pytest.raises(EnvArgumentError, match="reset"):
        view.step(np.zeros(2, dtype=np.int64))
    view.reset(seed=0)
    with pytest.raises(ActionError, match=r"shape \(2,\)"):
        view.step(np.zeros(3, dtype=np.int64))
    with pytest.raises(ActionError, match="integers"):
        view.step(np.zeros(2))
    with pytest.raises(ActionError, match=r"\[0, 5\]"):
        view.step(np.full(2, 6))


# ------------------------------------------------------------------ SB3
def mppmr_score(env_id: str, partner, act, seed: int = 1, rounds: int = 4) -> float:
    """Mean sparse return per finished episode of ``act(obs)`` with ``partner``, both seats."""
    view = xpm_bench.make_vec(env_id, 256, partner=partner, seat="random")
    obs, _ = view.reset(seed=seed)
    returns = []
    for _ in range(16 * rounds):
        obs, _, _, _, info = view.step(act(obs))
        if "final_info" in info:
            returns += list(info["final_info"]["episode_return"][info["_final_info"]])
    return float(np.mean(returns))


def train_sb3_ego(steps: int):
    """SB3 PPO against the population of every MPPMR convention agent (seat drawn per
    episode), on a training reward with a small quit penalty and landmark bonus."""
    sb3 = pytest.importorskip("stable_baselines3")
    from xpm_bench.envs.sb3 import to_sb3

    env = xpm_bench.make("MPPMR-v0")
    population = list(mppmr_convention_agents(env).values())
    weights = torch.tensor(env.reward_sets["sparse"], dtype=torch.float32)
    weights[env.event_names.index("quit")] = -0.1
    for k in range(4):
        weights[env.event_names.index(f"landmark_{k}")] = 0.05
    venv = xpm_bench.make_vec(
        "MPPMR-v0", 128, partner=population, seat="random", reward_weights=weights
    )
    model = sb3.PPO(
        "MlpPolicy", to_sb3(venv), n_steps=16, batch_size=512, n_epochs=4, learning_rate=1e-3,
        ent_coef=0.04, seed=0, device="cpu",
    )  # fmt: skip
    model.learn(steps)
    return model, population


def check_sb3_ego_beats_random(steps: int, at_least: float) -> None:
    model, population = train_sb3_ego(steps)
    rng = np.random.default_rng(0)
    random_ego = mppmr_score("MPPMR-v0", population, lambda obs: rng.integers(6, size=len(obs)))
    trained = mppmr_score("MPPMR-v0", population, lambda obs: model.predict(obs)[0])
    print(f"SB3 PPO ego after {steps:,} steps: {trained:.3f}; random ego: {random_ego:.3f}")
    # The best response to the uniform population of conventions meets a quarter of them.
    assert trained >= at_least > random_ego + 0.1


def test_sb3_ppo_ego_beats_the_random_ego():
    check_sb3_ego_beats_random(50_000, at_least=0.15)


@pytest.mark.slow
def test_sb3_ppo_ego_approaches_the_best_response():
    check_sb3_ego_beats_random(200_000, at_least=0.22)
