"""Centralised critics with one value head per stream (CTDE).

A learner's critic sees both seats' observations, its own first (``[N, 2, *obs_shape]``), as
:class:`~xpm_bench.agents.networks.CentralCritic` does, and has one output per stream of the
learner's objective: a shared trunk, one linear head per stream. Each stream's value function
is its own head, fitted only to that stream's returns; the trunk is shared so that one forward
pass values every stream (a separate network per stream would cost one pass per stream, and
LIPO at M = 8 has 15 streams per learner).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from xpm_bench.agents.networks import ARCHITECTURES
from xpm_bench.rl.sparse import SparseRows, sparse_mlp_forward, sparse_mlp_ok

Tensor = torch.Tensor


class StreamCritic(nn.Module):
    """``[N, 2, *obs_shape] -> [N, heads]``: the values of every stream."""

    def __init__(self, arch: str, arch_kwargs: dict[str, Any], heads: int = 1):
        super().__init__()
        kwargs = {k: v for k, v in arch_kwargs.items() if k not in ("gru", "out_gain")}
        obs_shape = [int(d) for d in kwargs.pop("obs_shape")]
        kwargs.pop("num_outputs", None)
        joint_shape = [2 * obs_shape[0], *obs_shape[1:]]
        self.heads = int(heads)
        self.net = ARCHITECTURES[arch](joint_shape, self.heads, out_gain=1.0, **kwargs)

    def forward(self, joint_obs: Tensor) -> Tensor:
        flat = joint_obs.reshape(joint_obs.shape[0], -1, *joint_obs.shape[3:])
        values, _ = self.net(flat)
        return values

    def value(self, joint_obs: Tensor, stream: Tensor) -> Tensor:
        """``[N]`` the value of each row under its stream's head (``stream`` ``[N]`` int64)."""
        return self(joint_obs).gather(1, stream.unsqueeze(1)).squeeze(1)

    @property
    def takes_sparse(self) -> bool:
        return sparse_mlp_ok(self.net)

    def sparse_value(self, own: SparseRows, partner: SparseRows, stream: Tensor) -> Tensor:
        """:meth:`value` for sparse observations (see :mod:`xpm_bench.rl.sparse`)."""
        values = sparse_mlp_forward(self.net, SparseRows.cat([own, partner]))
        return values.gather(1, stream.unsqueeze(1)).squeeze(1)
