"""Engine backends of the batched envs: eager ``torch`` and compiled ``numba``.

Every registered env takes ``backend=``:

- ``"torch"``: the batched torch engine; runs on CPU and CUDA. Its cost on CPU is a fixed
  overhead per op (tens of microseconds per step whatever the batch size), so it pays off
  only for large batches or on a GPU.
- ``"numba"``: the same dynamics compiled with numba, one loop over copies per step, on CPU
  only. Outputs are still torch tensors (sharing memory with the kernel's numpy arrays).
  Every observation, event, reward, flag, ``info`` entry and state snapshot is bit-identical
  to the torch engine's (the tests compare whole trajectories).
- ``"auto"`` (default): ``numba`` on CPU when numba is installed and the batch is at most the
  env's measured crossover, otherwise ``torch``.

Compilation: kernels are compiled on first use and cached on disk (``cache=True``). Numba puts
the cache in ``__pycache__`` beside the source when that is writable, otherwise under the
user's cache folder (``NUMBA_CACHE_DIR`` overrides both); when no cache location is usable the
kernels are compiled in memory for every new process.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from xpm_bench.errors import EnvArgumentError

BACKENDS = ("auto", "torch", "numba")
ENGINES = ("torch", "numba")  # the concrete backends "auto" chooses between


@functools.cache
def numba_available() -> bool:
    """Whether the ``numba`` package can be imported (checked once, without importing it)."""
    return importlib.util.find_spec("numba") is not None


def resolve_backend(
    backend: str,
    device: torch.device,
    num_envs: int,
    has_kernels: bool = True,
    numba_up_to: int | None = None,
) -> str:
    """The concrete backend (``"torch"`` or ``"numba"``) for a requested one.

    ``has_kernels``: whether the env has numba kernels at all; ``numba_up_to``: the largest
    batch for which ``auto`` picks numba on CPU (``None``: every batch), the crossover
    measured by ``benchmarks/single_copy_speed.py``.
    """
    if backend not in BACKENDS:
        raise EnvArgumentError(f"unknown backend {backend!r}; accepted: {', '.join(BACKENDS)}")
    on_cpu = device.type == "cpu"
    if backend == "auto":
        small_enough = numba_up_to is None or num_envs <= numba_up_to
        usable = has_kernels and on_cpu and small_enough and numba_available()
        return "numba" if usable else "torch"
    if backend == "numba":
        if not has_kernels:
            raise EnvArgumentError("this env has no numba kernels; accepted: 'auto', 'torch'")
        if not on_cpu:
            raise EnvArgumentError(
                f"backend 'numba' runs on CPU only, got device {str(device)!r}; "
                "use backend='torch' (or 'auto') on other devices"
            )
        if not numba_available():
            raise EnvArgumentError(
                "backend 'numba' needs the numba package (pip install numba); "
                "accepted without it: 'torch', 'auto'"
            )
    return backend


def kernel(fn: Callable[..., Any]) -> Any:
    """``numba.njit`` with an on-disk cache, or without one where no cache folder is usable."""
    import numba

    try:
        return numba.njit(cache=True)(fn)
    except RuntimeError:  # numba found no writable cache location
        return numba.njit(fn)


def sums_exact_in_any_order(weights: torch.Tensor) -> bool:
    """Whether every sum of distinct entries of ``weights`` (float32) is exact in float32, so
    that adding 0/1-weighted events gives the same bits in any order (the torch engine's
    matmul and a kernel's loop then agree).

    True when all entries are finite multiples of one power of two ``2**k`` and the sum of
    their magnitudes is at most ``2**(24 + k)``: every partial sum is then a multiple of
    ``2**k`` below float32's 24-bit significand range. Holds for the usual weights (0.5, 1,
    20, 3); fails for annealed shaping weights such as ``3 * 0.37``.
    """
    w = weights.detach().cpu().double().numpy().ravel()
    if not np.isfinite(w).all():
        return False
    w = w[w != 0]
    if w.size == 0:
        return True
    mantissa, exponent = np.frexp(w)  # w = mantissa * 2**exponent, 24 significant bits
    significand = np.abs(mantissa * 2.0**24).astype(np.int64)
    trailing_zeros = np.log2(significand & -significand).astype(np.int64)
    lowest_bit = int((exponent - 24 + trailing_zeros).min())
    return float(np.abs(w).sum()) <= 2.0 ** (24 + lowest_bit)
