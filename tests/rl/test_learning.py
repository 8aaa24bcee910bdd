"""PPO learns: self-play on MPPMR, a best response to a scripted convention."""

import pytest
import torch

from xpm_bench.agents.scripted import mppmr_convention_agents
from xpm_bench.evaluation.protocol import get_protocol
from xpm_bench.generators import sp
from xpm_bench.registry import make
from xpm_bench.rl.ledger import Ledger
from xpm_bench.rl.trainer import train_best_response
from xpm_bench.rollout import play_pairs


def test_self_play_ppo_reaches_rendezvous_on_mppmr():
    pop = sp.generate("MPPMR-v0", 1, sp.preset("smoke", "MPPMR-v0"), seed=0)
    policy = pop.policies()[0]
    result = play_pairs("MPPMR-v0", [(policy, policy)], episodes=200, seed=123)
    assert float(result.returns[..., 0].mean()) >= 0.95
    # the ledger counted exactly the steps the config budgets
    cfg = sp.preset("smoke", "MPPMR-v0")
    assert pop.ledger["env_steps"] == cfg.num_updates * cfg.num_envs * cfg.rollout_steps
    assert pop.ledger["env_steps_by_kind"]["sp"] == pop.ledger["env_steps"]


def test_best_response_to_a_scripted_convention_reaches_return_one():
    env = make("MPPMR-v0")
    partner = mppmr_convention_agents(env)[(2, 1)]
    ledger = Ledger()
    cfg = get_protocol("MPPMR-v0", "default").ego_config()
    policy, learner = train_best_response("MPPMR-v0", [partner], cfg, seed=1, ledger=ledger)
    both_seats = [(policy, partner), (partner, policy)]
    result = play_pairs("MPPMR-v0", both_seats, episodes=100, seed=7)
    assert float(result.returns[..., 0].mean()) >= 0.9
    assert ledger.env_steps_by_kind["xp"] == ledger.env_steps > 0
    assert hasattr(policy, "net") and learner.critic is not None


def test_best_response_draws_partners_and_seats_per_episode():
    env = make("MPPMR-v0")
    agents = mppmr_convention_agents(env)
    partners = [agents[(0, 0)], agents[(1, 0)]]
    from xpm_bench.rl.trainer import PPOTrainer, make_learner, random_partner_reassign

    cfg = sp.preset("smoke", "MPPMR-v0")
    from xpm_bench.rl.ledger import MeteredEnv

    menv = MeteredEnv(make("MPPMR-v0", num_envs=64), Ledger())
    trainer = PPOTrainer(
        menv, make_learner(menv, cfg, 0), cfg, 0, partners, reassign=random_partner_reassign(2)
    )
    trainer.start(0)
    pairs = trainer.update()["episodes"]["pair"]
    assert ((pairs == 0).sum(dim=1) == 1).all()  # learner in exactly one seat
    seat_of_learner = (pairs[:, 1] == 0).float().mean()
    assert 0.3 < float(seat_of_learner) < 0.7
    partner_ids = pairs.max(dim=1).values
    assert set(partner_ids.tolist()) == {1, 2}


@pytest.mark.slow
def test_self_play_on_overcooked_cramped_room_delivers_soups():
    env_id = "OvercookedClassic-CrampedRoom-v0"
    cfg = sp.preset("default", env_id)
    from xpm_bench.generators.config import apply_overrides

    cfg = apply_overrides(cfg, ["env_steps=600000"])
    pop = sp.generate(env_id, 1, cfg, seed=0)
    policy = pop.policies()[0]
    result = play_pairs(env_id, [(policy, policy)], episodes=16, seed=5)
    env = make(env_id)
    sparse = env.reward_weight_tensor("sparse")
    team = torch.einsum("pnqe,iqe->pni", result.events, sparse)[..., 0]
    assert float(team.mean()) >= 20.0  # at least one soup per episode on average


def test_recurrent_actor_trains_end_to_end_and_round_trips(tmp_path):
    from xpm_bench.generators.run import run_generation
    from xpm_bench.population import load_population

    overrides = ["env_steps=2048", "num_envs=16", "rollout_steps=16", "gru=8"]
    out = tmp_path / "pop.pt"
    run_generation("sp", "MPPMR-v0", 1, seed=0, preset="smoke", overrides=overrides, output=out)
    pop = load_population(out)
    policy = pop.policies()[0]
    assert policy.recurrent and pop.members[0].arch_kwargs["gru"] == 8
    result = play_pairs("MPPMR-v0", [(policy, policy)], episodes=4, seed=0)
    assert result.lengths.shape == (1, 4)
