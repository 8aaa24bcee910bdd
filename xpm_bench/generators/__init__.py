"""Population generators: a fixed name -> module registry.

Each generator module exposes:

- ``Config``: a frozen dataclass with a docstring per field;
- ``preset(name, env_id) -> Config`` for ``smoke`` (CI, seconds), ``default`` (a real run on a
  CPU) and ``paper`` (the published budgets, for a GPU); ``PRESETS`` lists the names;
- ``generate(env_id, pop_size, config, seed, ledger, callbacks) -> Population``, where
  ``callbacks`` is a :class:`~xpm_bench.generators.harness.Harness` (envs, checkpoints,
  progress) and the ledger is counted by the harness.

Add a generator by appending a :func:`register_generator` call below.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from types import ModuleType

from xpm_bench.errors import ConfigError


@dataclass(frozen=True)
class GeneratorSpec:
    """A registered generator: its name, module path and a one-line description."""

    name: str
    module: str
    description: str = ""

    def load(self) -> ModuleType:
        """Import the generator module."""
        return importlib.import_module(self.module)


GENERATORS: dict[str, GeneratorSpec] = {}


def register_generator(name: str, module: str, description: str = "") -> GeneratorSpec:
    """Register a generator module under ``name``."""
    if name in GENERATORS:
        raise ValueError(f"generator {name!r} is already registered")
    GENERATORS[name] = GeneratorSpec(name, module, description)
    return GENERATORS[name]


def get_generator(name: str) -> GeneratorSpec:
    """The generator registered as ``name``; a clear error listing the choices otherwise."""
    if name in GENERATORS:
        return GENERATORS[name]
    close = difflib.get_close_matches(name, list(GENERATORS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"unknown method {name!r}{hint} (accepted: {', '.join(GENERATORS)})")


def generator_names() -> list[str]:
    """All registered generator names, in registration order."""
    return list(GENERATORS)


register_generator("sp", "xpm_bench.generators.sp", "independent self-play PPO agents")
register_generator(
    "lipo", "xpm_bench.generators.lipo", "LIPO: all agents at once, SP - lambda * max XP"
)
register_generator(
    "comedi",
    "xpm_bench.generators.comedi",
    "CoMeDi: sequential agents, SP - XP with j* + mixed play",
)
register_generator(
    "xpm-wm", "xpm_bench.generators.xpm_wm", "cross-play minimisation in a learned world model"
)
register_generator(
    "xpm-sim", "xpm_bench.generators.xpm_sim", "the XPM objective on real rollouts (XPM-Sim)"
)
