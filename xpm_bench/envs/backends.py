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

import torch

from xpm_bench.errors import EnvArgumentError

BACKENDS = ("auto", "torch", "numba")


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
