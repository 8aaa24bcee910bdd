"""Sparse first layers compute what the dense MLP computes, values and gradients."""

import pytest
import torch

from xpm_bench.agents.networks import build_network
from xpm_bench.registry import make
from xpm_bench.rl.sparse import sparse_mlp_forward, to_sparse_rows


def _overcooked_obs(n_steps=8):
    env = make("OvercookedClassic-CrampedRoom-v0", num_envs=16)
    obs, _ = env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    out = [obs]
    for _ in range(n_steps):
        obs, *_ = env.step(torch.randint(6, (16, 2), generator=gen))
        out.append(obs)
    return torch.stack(out).reshape(-1, *env.observation_shape)


def test_sparse_rows_round_trip_and_dense_inputs_are_refused():
    x = _overcooked_obs()
    rows = to_sparse_rows(x)
    dense = torch.zeros(x.shape[0], rows.dim).scatter_add_(1, rows.idx, rows.val)
    assert torch.equal(dense, x.reshape(x.shape[0], -1).float())
    assert to_sparse_rows(torch.rand(4, 10) + 0.1) is None


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_sparse_mlp_matches_the_dense_forward_and_gradients(scale):
    x = _overcooked_obs().float() * scale  # non-binary values too
    net = build_network("mlp", {"obs_shape": [26, 5, 4], "num_outputs": 6, "hidden": 32})
    target = torch.randn(x.shape[0], 6, generator=torch.Generator().manual_seed(1))
    dense_out = net(x)[0]
    (dense_out * target).sum().backward()
    dense_grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    sparse_out = sparse_mlp_forward(net, to_sparse_rows(x))
    (sparse_out * target).sum().backward()
    torch.testing.assert_close(sparse_out, dense_out, rtol=1e-5, atol=1e-5)
    for p, g in zip(net.parameters(), dense_grads, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-4)
