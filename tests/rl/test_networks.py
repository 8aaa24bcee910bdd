"""Policy networks: shapes, the architecture registry, recurrent unrolls, sampling."""

import pytest
import torch

from xpm_bench.agents.networks import (
    ARCHITECTURES,
    CentralCritic,
    NetPolicy,
    build_network,
    default_arch,
    sample_actions,
)
from xpm_bench.errors import PopulationFileError


@pytest.mark.parametrize("grid", [(5, 4), (9, 5), (8, 5)])
def test_cnn_on_overcooked_shaped_uint8_obs(grid):
    w, h = grid
    arch, kwargs = default_arch((26, w, h), 6)
    assert arch == "cnn"
    net = build_network(arch, kwargs)
    obs = torch.randint(0, 3, (7, 26, w, h), dtype=torch.uint8)
    logits, carry = net(obs)
    assert logits.shape == (7, 6) and carry is None
    critic = CentralCritic(arch, kwargs)
    assert critic(torch.randint(0, 3, (7, 2, 26, w, h), dtype=torch.uint8)).shape == (7,)


def test_mlp_default_for_vector_obs():
    arch, kwargs = default_arch((115,), 6)
    assert arch == "mlp"
    logits, _ = build_network(arch, kwargs)(torch.rand(3, 115))
    assert logits.shape == (3, 6)


@pytest.mark.parametrize("arch,shape", [("mlp", (11,)), ("cnn", (4, 3, 3))])
def test_gru_unroll_matches_stepwise_with_resets(arch, shape):
    torch.manual_seed(0)
    net = build_network(arch, {"obs_shape": list(shape), "num_outputs": 5, "gru": 8})
    t_len, n = 6, 3
    obs = torch.rand(t_len, n, *shape)
    starts = torch.zeros(t_len, n, dtype=torch.bool)
    starts[0] = True
    starts[3, 1] = True
    carry0 = torch.rand(n, 8)
    unrolled = net.unroll(obs, carry0, starts)
    carry = carry0.clone()
    for t in range(t_len):
        carry = torch.where(starts[t].unsqueeze(-1), torch.zeros_like(carry), carry)
        logits, carry = net(obs[t], carry)
        torch.testing.assert_close(unrolled[t], logits)


def test_registry_rejects_unknown_names_and_bad_kwargs():
    assert set(ARCHITECTURES) == {"mlp", "cnn"}
    with pytest.raises(PopulationFileError, match="unknown architecture 'evil'"):
        build_network("evil", {})
    with pytest.raises(PopulationFileError, match="do not fit"):
        build_network("mlp", {"obs_shape": [3], "num_outputs": 2, "bogus": 1})
    with pytest.raises(PopulationFileError, match="plain value"):
        build_network("mlp", {"obs_shape": [3], "num_outputs": 2, "hidden": object()})


def test_sampling_matches_softmax_frequencies():
    logits = torch.log(torch.tensor([[0.1, 0.2, 0.7]])).expand(40_000, 3)
    actions = sample_actions(logits, torch.Generator().manual_seed(0))
    freq = torch.bincount(actions, minlength=3).float() / len(actions)
    torch.testing.assert_close(freq, torch.tensor([0.1, 0.2, 0.7]), atol=0.01, rtol=0)


def test_net_policy_reseed_reproduces_actions_and_deterministic_is_argmax():
    net = build_network("mlp", {"obs_shape": [4], "num_outputs": 3, "out_gain": 1.0})
    obs = torch.rand(50, 4)
    policy = NetPolicy(net)
    policy.reseed(3)
    a1, _ = policy.act(obs)
    policy.reseed(3)
    a2, _ = policy.act(obs)
    assert torch.equal(a1, a2)
    greedy = NetPolicy(net, deterministic=True)
    assert torch.equal(greedy.act(obs)[0], net(obs)[0].argmax(-1))
    assert NetPolicy(
        build_network("mlp", {"obs_shape": [4], "num_outputs": 3, "gru": 4})
    ).reset_carry(2).shape == (2, 4)
