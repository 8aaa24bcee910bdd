"""Sparse first layers for MLP actors and critics on sparse observations.

The Overcooked lossless encoding is binary and about 4% dense (about 19 of 520 entries on
Cramped Room), so the first dense layer of an MLP spends ~96% of its multiply-adds on zeros,
and on a CPU that layer is most of the cost of a PPO update. Here an observation is kept as
its active entries (``idx``, ``val``, padded to the batch's largest count with value 0) and
the first layer is an ``embedding_bag`` sum of the weight's columns: the same function with the
same parameters, only the summation order differs (float rounding). Deeper layers are unchanged.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from xpm_bench.agents.networks import MLPNet

Tensor = torch.Tensor
MAX_DENSITY = 0.25  # above this a dense matmul is as fast


@dataclass
class SparseRows:
    """Rows of a ``[n, D]`` matrix as their active entries, ``K`` per row (the batch's
    largest count; shorter rows padded with column 0, value 0)."""

    idx: Tensor  # [n, K] int64 column of each active entry (0 for padding)
    val: Tensor  # [n, K] float32 its value (0 for padding)
    dim: int

    def __getitem__(self, rows: Tensor) -> SparseRows:
        return SparseRows(self.idx[rows], self.val[rows], self.dim)

    @classmethod
    def cat(cls, parts: list[SparseRows]) -> SparseRows:
        """Column-wise concatenation (``[x_1, x_2, ...]`` along features)."""
        offsets, idx, val, dim = 0, [], [], 0
        for part in parts:
            idx.append(part.idx + offsets)
            val.append(part.val)
            offsets += part.dim
            dim += part.dim
        return cls(torch.cat(idx, dim=1), torch.cat(val, dim=1), dim)


def to_sparse_rows(x: Tensor) -> SparseRows | None:
    """``x`` ``[n, *shape]`` as :class:`SparseRows`, or None if it is too dense to gain."""
    flat = x.reshape(x.shape[0], -1)
    n, dim = flat.shape
    row, col = (flat != 0).nonzero(as_tuple=True)  # row-major: each row's columns in order
    counts = torch.bincount(row, minlength=n)
    k = int(counts.max()) if row.numel() else 0
    if k == 0 or k > MAX_DENSITY * dim:
        return None
    first = torch.cumsum(counts, 0) - counts  # where each row's entries start
    slot = torch.arange(row.numel(), device=x.device) - first[row]
    idx = torch.zeros(n, k, dtype=torch.int64, device=x.device)
    val = torch.zeros(n, k, dtype=torch.float32, device=x.device)
    idx[row, slot] = col
    val[row, slot] = flat[row, col].to(torch.float32)
    return SparseRows(idx, val, dim)


class _SparseLinear(torch.autograd.Function):
    """``x @ weight.T + bias`` for sparse ``x``. Both directions are ``embedding_bag`` sums:
    forward over each row's active columns, backward over each column's active rows (the
    entries sorted by column; ``embedding_bag``'s own backward is several times slower on CPU)."""

    @staticmethod
    def forward(ctx, idx: Tensor, val: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        table = weight.t().contiguous()
        out = F.embedding_bag(idx, table, per_sample_weights=val, mode="sum") + bias
        ctx.save_for_backward(idx, val)
        ctx.in_dim = weight.shape[1]
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        idx, val = ctx.saved_tensors
        # int16 keys: torch's stable CPU sort is a radix sort for small integer types, about
        # 5x faster here than on int64 (feature dims are far below 2**15)
        keys = idx.reshape(-1)
        keys = keys.to(torch.int16) if ctx.in_dim < 2**15 else keys
        cols, order = torch.sort(keys, stable=True)
        cols = cols.long()
        rows = _entry_rows(idx.shape[0], idx.shape[1], str(idx.device))[order]
        counts = torch.bincount(cols, minlength=ctx.in_dim)
        offsets = torch.cumsum(counts, 0) - counts
        grad_table = F.embedding_bag(
            rows,
            grad_out.contiguous(),
            offsets,
            per_sample_weights=val.reshape(-1)[order],
            mode="sum",
        )
        return None, None, grad_table.t(), grad_out.sum(0)


@functools.lru_cache(maxsize=16)
def _entry_rows(n: int, k: int, device: str) -> Tensor:
    """The row of each entry of a flattened ``[n, k]`` index (an integer division by ``k``
    costs more than the whole embedding sum on CPU, so it is looked up)."""
    return torch.arange(n, device=device).repeat_interleave(k)


def sparse_linear(rows: SparseRows, layer: nn.Linear) -> Tensor:
    """``layer(x)`` for the dense ``x`` that ``rows`` hold."""
    return _SparseLinear.apply(rows.idx, rows.val, layer.weight, layer.bias)


def sparse_mlp_ok(net: nn.Module) -> bool:
    """Whether :func:`sparse_mlp_forward` computes ``net``'s output (feed-forward MLPs)."""
    return isinstance(net, MLPNet) and net.gru is None and len(net.encoder[1]) > 0


def sparse_mlp_forward(net: MLPNet, rows: SparseRows) -> Tensor:
    """``net(x)[0]`` for the dense ``x`` that ``rows`` hold (see :func:`sparse_mlp_ok`)."""
    layers = net.encoder[1]
    h = sparse_linear(rows, layers[0])
    for layer in list(layers)[1:]:
        h = layer(h)
    return net.head(h)
