"""CMG: the payoff matrix in closed form, events, bad input, scripted agents, evaluation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import xpm_bench
from xpm_bench.agents.networks import build_network
from xpm_bench.agents.scripted import cmg_convention_agents
from xpm_bench.errors import EnvArgumentError
from xpm_bench.evaluation import holdout as ho
from xpm_bench.evaluation.evaluate import evaluate_file
from xpm_bench.evaluation.protocol import get_protocol
from xpm_bench.rollout import cross_play_returns

SKEWED = (1.0,) + (0.5,) * 7


def every_joint_action(k: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(k + 1), repeat=2)), dtype=torch.int64)


@pytest.mark.parametrize("env_id,payoffs", [("CMG-v0", (1.0,) * 8), ("CMG-Skewed-v0", SKEWED)])
def test_every_joint_action_pays_the_closed_form(env_id, payoffs):
    k = len(payoffs)
    actions = every_joint_action(k)  # (K+1)^2 pairs, the last action is stay
    env = xpm_bench.make(env_id, num_envs=len(actions))
    assert env.payoffs == payoffs and env.num_actions == k + 1 and env.horizon == 1
    obs, _ = env.reset(seed=0)
    assert torch.equal(obs, torch.ones(len(actions), 2, 1))
    obs, reward, term, trunc, info = env.step(actions)
    a0, a1 = actions[:, 0], actions[:, 1]
    expected = torch.tensor([payoffs[a] if a == b < k else 0.0 for a, b in actions.tolist()])
    assert torch.equal(reward, expected.unsqueeze(1).expand(-1, 2))
    assert term.all() and not trunc.any()  # one joint action, then the game is over
    assert torch.equal(info["episode_length"], torch.ones(len(actions), dtype=torch.int64))
    assert torch.equal(info["episode_return"], reward)
    assert torch.equal(obs, torch.ones(len(actions), 2, 1))  # constant, also after the reset
    events = info["events"]
    for p, a in ((0, a0), (1, a1)):
        picked = a < k
        assert torch.equal(events[picked, p, k:].argmax(1), a[picked])
        assert torch.equal(events[:, p, k:].sum(1), picked.float())
        matched = (a0 == a1) & (a0 < k)
        assert torch.equal(events[:, p, :k].sum(1), matched.float())
        assert torch.equal(events[matched, p, :k].argmax(1), a0[matched])


def test_payoffs_and_conventions_are_keywords():
    env = xpm_bench.make("CMG-v0", n_conventions=3, payoffs=[2.0, 1.0, 0.25])
    assert env.action_names == ("convention_0", "convention_1", "convention_2", "stay")
    assert env.event_names == ["match_0", "match_1", "match_2", "pick_0", "pick_1", "pick_2"]
    env.reset(seed=0)
    _, reward, *_ = env.step(torch.tensor([[2, 2]]))
    assert reward.tolist() == [[0.25, 0.25]]
    assert xpm_bench.make("CMG-v0", n_conventions=3).payoffs == (1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"n_conventions": 1}, "n_conventions must be an integer >= 2, got 1"),
        ({"payoffs": [1.0, 0.5]}, r"one entry per convention \(8\), got 2"),
        ({"n_conventions": 2, "payoffs": [1.0, 0.0]}, r"finite and > 0, got \[1.0, 0.0\]"),
        ({"n_conventions": 2, "payoffs": [1.0, float("nan")]}, "finite and > 0"),
    ],
)
def test_bad_keywords_are_rejected_clearly(kwargs, message):
    with pytest.raises(EnvArgumentError, match=message):
        xpm_bench.make("CMG-v0", **kwargs)


def test_bad_state_is_rejected_and_numba_is_not_offered():
    env = xpm_bench.make("CMG-v0", num_envs=2)
    state = env.get_state()
    state["last_actions"] = torch.full((2, 2), 9)
    with pytest.raises(EnvArgumentError, match=r"last_actions'\] holds values in \[9, 9\]"):
        env.set_state(state)
    with pytest.raises(EnvArgumentError, match="no numba kernels"):
        xpm_bench.make("CMG-v0", backend="numba")
    assert xpm_bench.make("CMG-v0").backend == "torch"


def test_render_shows_the_last_picks_without_autoreset():
    env = xpm_bench.make("CMG-Skewed-v0")
    env.autoreset = False
    env.reset(seed=0)
    env.step(torch.tensor([[0, 0]]))
    assert "seat 0 = convention_0, seat 1 = convention_0 -> 1" in env.render("ansi")
    assert env.render("rgb_array").shape == (96, 96, 3)


def test_scripted_conventions_cross_play_is_the_diagonal_payoff_matrix():
    env = xpm_bench.make("CMG-Skewed-v0")
    agents = cmg_convention_agents(env)
    assert list(agents) == list(range(8))
    matrix = cross_play_returns("CMG-Skewed-v0", list(agents.values()))
    np.testing.assert_array_equal(np.asarray(matrix), np.diag(SKEWED))


def test_holdout_set_has_every_convention_with_its_best_response_return(tmp_path):
    holdout = ho.build_holdout("CMG-Skewed-v0", cache_dir=tmp_path)
    assert [p.name for p in holdout.partners] == [f"convention{k}" for k in range(8)]
    assert [p.params["best_response_return"] for p in holdout.partners] == list(SKEWED)
    partner = ho.build_partner(holdout.partners[3], "CMG-Skewed-v0")
    assert partner.act(torch.ones(5, 1))[0].tolist() == [3] * 5


def convention_member(k: int, num_actions: int = 9) -> dict:
    """An MLP member that picks convention ``k`` (probability ~1 - 1e-8)."""
    kwargs = {"obs_shape": [1], "num_outputs": num_actions, "hidden": 8, "layers": 1, "gru": 0}
    state = {
        key: torch.zeros_like(v) for key, v in build_network("mlp", kwargs).state_dict().items()
    }
    state["head.bias"][k] = 20.0
    return {"name": f"c{k}", "arch": "mlp", "arch_kwargs": kwargs, "state_dict": state,
            "seed": k, "info": {}}  # fmt: skip


def test_evaluate_scores_a_cmg_population_in_closed_form(tmp_path, monkeypatch):
    """Members 0, 1, 2 pick conventions 0, 1, 2 of CMG-Skewed: SP (1, 0.5, 0.5), XP 0, and the
    ego's best response to them is convention 0 (it pays 1/3 on average, the others 1/6).
    The default protocol's ego (20k steps, ~15 s) is what finds it reliably."""
    monkeypatch.setenv("XPM_BENCH_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "pop.pt"
    torch.save(
        {
            "format": "xpm-bench-population",
            "format_version": 1,
            "library_version": "0.1.0",
            "env_id": "CMG-Skewed-v0",
            "env_kwargs": {},
            "method": "hand-made",
            "config": {},
            "seeds": {"seed": 0},
            "ledger": None,
            "members": [convention_member(k) for k in range(3)],
            "shared": {},
        },
        path,
    )
    result = evaluate_file(path, protocol=get_protocol("CMG-Skewed-v0", "default"))
    assert result["metrics"]["sp_mean"]["value"] == pytest.approx(2 / 3)
    assert result["metrics"]["xp_mean"]["value"] == 0.0
    assert result["metrics"]["bad_faith_rate"]["value"] == 0.0  # an idle partner scores 0 too
    assert np.asarray(result["xp_matrix"]).round(6).tolist() == np.diag([1, 0.5, 0.5]).tolist()
    per_partner = result["ego"]["per_partner"]
    assert set(per_partner) == {f"convention{k}" for k in range(8)}
    # the ego learnt convention 0: it meets holdout convention0 only, 1/8 of the holdout mean
    assert per_partner["convention0"]["mean"]["value"] >= 0.9
    assert result["ego"]["mean_return"] == pytest.approx(1 / 8, abs=0.02)
