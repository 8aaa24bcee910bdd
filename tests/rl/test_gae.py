"""GAE against closed forms and a hand-computed case with continuations and truncation."""

import pytest
import torch

from xpm_bench.rl.gae import compute_gae, reverse_linear_scan


def test_lambda_one_gives_discounted_return_minus_value():
    rewards = torch.tensor([[1.0], [0.0], [2.0]])
    values = torch.tensor([[0.5], [0.2], [0.1]])
    continues = torch.ones(3, 1)
    last = torch.tensor([3.0])
    g = 0.9
    adv, ret = compute_gae(rewards, values, continues, last, gamma=g, lam=1.0)
    expected = torch.tensor(
        [1 + g * 0 + g**2 * 2 + g**3 * 3, 0 + g * 2 + g**2 * 3, 2 + g * 3]
    ).unsqueeze(1)
    torch.testing.assert_close(ret, expected)
    torch.testing.assert_close(adv, expected - values)


def test_lambda_zero_is_td_error_and_termination_cuts_bootstrap():
    rewards = torch.tensor([[1.0, 1.0], [0.5, 0.5]])
    values = torch.tensor([[0.3, 0.3], [0.4, 0.4]])
    continues = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    last = torch.tensor([2.0, 2.0])
    adv, _ = compute_gae(rewards, values, continues, last, gamma=0.5, lam=0.0)
    torch.testing.assert_close(adv[0], torch.tensor([1.0 - 0.3, 1.0 + 0.5 * 0.4 - 0.3]))
    torch.testing.assert_close(adv[1], torch.tensor([0.5 + 0.5 * 2.0 - 0.4] * 2))


def test_hand_case_with_soft_continuation_and_truncation():
    # One stream, 5 steps: step 1 has a predicted continuation of 0.5, the episode is cut by
    # its time limit after step 2 (final obs value 4), a new episode runs steps 3-4, and the
    # rollout ends after step 4 (last value 1).
    g, lam = 0.9, 0.8
    r = [1.0, 2.0, 0.0, 1.0, 3.0]
    v = [0.5, 1.0, 2.0, 0.2, 0.4]
    c = [1.0, 0.5, 1.0, 1.0, 1.0]
    final, last = 4.0, 1.0
    # by hand, backwards: A4 = r4 + g*last - v4; A3 = d3 + g*lam*A4; step 2 bootstraps from the
    # final obs and stops the trace; step 1's continuation halves both bootstrap and trace.
    d4 = r[4] + g * last - v[4]
    a4 = d4
    d3 = r[3] + g * v[4] - v[3]
    a3 = d3 + g * lam * a4
    d2 = r[2] + g * final - v[2]
    a2 = d2
    d1 = r[1] + g * 0.5 * v[2] - v[1]
    a1 = d1 + g * lam * 0.5 * a2
    d0 = r[0] + g * v[1] - v[0]
    a0 = d0 + g * lam * a1
    expected = torch.tensor([a0, a1, a2, a3, a4]).unsqueeze(1)
    trunc = torch.tensor([False, False, True, False, False]).unsqueeze(1)
    final_values = torch.zeros(5, 1)
    final_values[2] = final
    adv, ret = compute_gae(
        torch.tensor(r).unsqueeze(1),
        torch.tensor(v).unsqueeze(1),
        torch.tensor(c).unsqueeze(1),
        torch.tensor([last]),
        g,
        lam,
        trunc,
        final_values,
    )
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(ret, expected + torch.tensor(v).unsqueeze(1))
    with pytest.raises(ValueError, match="final_values"):
        compute_gae(
            torch.ones(2, 1), torch.ones(2, 1), torch.ones(2, 1), torch.ones(1), g, lam, trunc[:2]
        )


@pytest.mark.parametrize("t_len", [1, 2, 5, 64, 129])
def test_scan_matches_the_sequential_recurrence(t_len):
    gen = torch.Generator().manual_seed(t_len)
    deltas = torch.randn(t_len, 7, generator=gen, dtype=torch.float64)
    decays = torch.rand(t_len, 7, generator=gen, dtype=torch.float64)
    decays[decays < 0.2] = 0.0  # episode ends inside the rollout
    expected = torch.zeros_like(deltas)
    nxt = torch.zeros(7, dtype=torch.float64)
    for t in reversed(range(t_len)):
        nxt = deltas[t] + decays[t] * nxt
        expected[t] = nxt
    torch.testing.assert_close(reverse_linear_scan(deltas, decays), expected)
