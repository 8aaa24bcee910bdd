"""What a result was computed on: the facts that decide whether a rerun can be bit-exact.

Evaluation is seeded, so on the same software and the same kind of machine a rerun gives the
same numbers bit for bit. Across machines the float results can differ in the last bits (torch
picks CPU kernels by the instruction set, e.g. AVX2 or AVX-512, and thread counts change the
order of reductions). :func:`machine_fingerprint` records what matters for that, and
:func:`same_machine_type` compares two records.
"""

from __future__ import annotations

import platform
from typing import Any

import numpy as np
import torch

# Fields that must agree for a bit-exact rerun.
EXACT_FIELDS = ("system", "arch", "python", "torch", "numpy", "cpu_capability", "threads", "device")


def machine_fingerprint(device: str = "cpu") -> dict[str, Any]:
    """The software versions, CPU instruction set and thread count of this process."""
    return {
        "system": platform.system(),
        "arch": platform.machine(),
        "python": ".".join(platform.python_version_tuple()[:2]),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "device": str(device),
    }


def same_machine_type(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two fingerprints agree on every field of :data:`EXACT_FIELDS`."""
    if not a or not b:
        return False
    return all(a.get(name) == b.get(name) for name in EXACT_FIELDS)
