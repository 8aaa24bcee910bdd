"""GAE against closed forms."""

import torch

from xpm_bench.rl.gae import compute_gae


def test_lambda_one_gives_discounted_return_minus_value():
    rewards = torch.tensor([[1.0], [0.0], [2.0]])
    values = torch.tensor([[0.5], [0.2], [0.1]])
    dones = torch.zeros(3, 1, dtype=torch.bool)
    last = torch.tensor([3.0])
    g = 0.9
    adv, ret = compute_gae(rewards, values, dones, last, gamma=g, lam=1.0)
    expected = torch.tensor(
        [1 + g * 0 + g**2 * 2 + g**3 * 3, 0 + g * 2 + g**2 * 3, 2 + g * 3]
    ).unsqueeze(1)
    torch.testing.assert_close(ret, expected)
    torch.testing.assert_close(adv, expected - values)


def test_lambda_zero_is_td_error_and_done_cuts_bootstrap():
    rewards = torch.tensor([[1.0, 1.0], [0.5, 0.5]])
    values = torch.tensor([[0.3, 0.3], [0.4, 0.4]])
    dones = torch.tensor([[True, False], [False, False]])
    last = torch.tensor([2.0, 2.0])
    adv, _ = compute_gae(rewards, values, dones, last, gamma=0.5, lam=0.0)
    torch.testing.assert_close(adv[0], torch.tensor([1.0 - 0.3, 1.0 + 0.5 * 0.4 - 0.3]))
    torch.testing.assert_close(adv[1], torch.tensor([0.5 + 0.5 * 2.0 - 0.4] * 2))
