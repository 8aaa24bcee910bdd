"""Environment registry: ``register``/``make``/``spec`` over one id grammar.

Ids follow Gymnasium's grammar ``Family[-Variant]-vN``: ``MPPMR-v0``,
``Overcooked-CrampedRoom-v0``. Anything that changes numbers (dynamics, observation, reward,
horizon) gets a new version and old ids stay registered, so stored results always name the
exact environment they came from.

An env's *family* (:func:`env_family`) groups the ids of one game: evaluation protocols,
generator presets and holdout recipes are chosen by family. It is the id's first part unless
the registration names another (both Overcooked cooking rules, ``Overcooked-*`` and
``OvercookedClassic-*``, are family ``Overcooked``). The *variant* (:func:`env_variant`) is
the middle part, e.g. the layout of ``Overcooked-CrampedRoom-v0``.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from xpm_bench.errors import ConfigError, EnvArgumentError, UnknownEnvError

ID_PATTERN = re.compile(
    r"^(?P<name>[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z][A-Za-z0-9]*)?)-v(?P<version>\d+)$"
)

# Keyword arguments every batched env takes, handled by ``make`` itself.
BATCH_KWARGS = ("num_envs", "device")


@dataclass(frozen=True)
class EnvSpec:
    """What ``make`` needs to build an environment, plus what a listing shows.

    Attributes:
        id: the full versioned id, ``Family[-Variant]-vN``.
        entry_point: ``"module:Class"`` or a callable returning a batched env.
        kwargs: default keyword arguments, overridable in ``make``.
        description: one line for listings.
        family: the game family (see the module docstring); empty means the id's first part.
    """

    id: str
    entry_point: str | Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    family: str = ""

    @property
    def name(self) -> str:
        """The id without its version, e.g. ``Overcooked-CrampedRoom``."""
        return parse_id(self.id)[0]

    @property
    def version(self) -> int:
        return parse_id(self.id)[1]

    def load_entry_point(self) -> Callable[..., Any]:
        if callable(self.entry_point):
            return self.entry_point
        module_name, _, attr = self.entry_point.partition(":")
        return getattr(importlib.import_module(module_name), attr)

    def accepted_kwargs(self) -> list[str]:
        """Keyword arguments the entry point accepts, besides ``num_envs`` and ``device``."""
        params = inspect.signature(self.load_entry_point()).parameters.values()
        names = [
            p.name
            for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in BATCH_KWARGS
        ]
        return names


registry: dict[str, EnvSpec] = {}


def parse_id(env_id: str) -> tuple[str, int]:
    """Split ``env_id`` into ``(name, version)``; raise if it does not follow the grammar."""
    match = ID_PATTERN.match(env_id) if isinstance(env_id, str) else None
    if match is None:
        raise UnknownEnvError(
            f"malformed environment id {env_id!r}: expected 'Family[-Variant]-vN', "
            f"for example 'MPPMR-v0'"
        )
    return match["name"], int(match["version"])


def env_family(env_id: str) -> str:
    """The family of ``env_id``: its registration's ``family``, else the id's first part
    (also for ids that are well formed but not registered). ``"MPPMR"`` for ``MPPMR-v0``,
    ``"Overcooked"`` for ``OvercookedClassic-CrampedRoom-v0``."""
    name, _ = parse_id(env_id)
    _ensure_registered()
    registered = registry.get(env_id)
    if registered is not None and registered.family:
        return registered.family
    return name.partition("-")[0]


def env_variant(env_id: str) -> str | None:
    """The middle part of ``env_id`` (``"CrampedRoom"`` for ``Overcooked-CrampedRoom-v0``),
    or ``None`` for a ``Family-vN`` id."""
    name, _ = parse_id(env_id)
    return name.partition("-")[2] or None


def register(
    id: str,
    entry_point: str | Callable[..., Any],
    kwargs: dict[str, Any] | None = None,
    description: str = "",
    family: str = "",
) -> EnvSpec:
    """Register an environment under a versioned id. Re-registering an id is an error.

    ``family`` groups this id with other ids of the same game (see the module docstring);
    by default it is the id's first part.
    """
    parse_id(id)
    if id in registry:
        raise ValueError(f"environment id {id!r} is already registered")
    env_spec = EnvSpec(
        id=id,
        entry_point=entry_point,
        kwargs=dict(kwargs or {}),
        description=description,
        family=family,
    )
    registry[id] = env_spec
    return env_spec


def spec(env_id: str) -> EnvSpec:
    """The spec registered under ``env_id``; a clear error naming alternatives otherwise."""
    _ensure_registered()
    if env_id in registry:
        return registry[env_id]
    name, _ = parse_id(env_id)
    versions = sorted(s.version for s in registry.values() if s.name == name)
    if versions:
        listed = ", ".join(f"{name}-v{v}" for v in versions)
        raise UnknownEnvError(f"unknown version of {name!r}: {env_id!r}; registered: {listed}")
    close = difflib.get_close_matches(env_id, list(registry), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownEnvError(
        f"unknown environment id {env_id!r}{hint} (run 'xpm-bench envs list' for all ids)"
    )


def registered_ids() -> list[str]:
    """All registered ids, sorted."""
    _ensure_registered()
    return sorted(registry)


def make(env_id: str, num_envs: int = 1, device: str = "cpu", **kwargs: Any) -> Any:
    """Build the batched torch environment ``env_id`` with ``num_envs`` copies on ``device``.

    Keyword arguments override the spec's defaults; unknown ones are rejected with the list
    of accepted names.
    """
    env_spec = spec(env_id)
    accepted = env_spec.accepted_kwargs()
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise EnvArgumentError(
            f"{env_id} does not accept keyword(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(accepted) or 'none'}"
        )
    if not isinstance(num_envs, int) or num_envs < 1:
        raise EnvArgumentError(f"num_envs must be a positive integer, got {num_envs!r}")
    merged = {**env_spec.kwargs, **kwargs}
    env = env_spec.load_entry_point()(num_envs=num_envs, device=device, **merged)
    env.spec = env_spec
    env.env_id = env_id
    env.env_kwargs = merged
    return env


def check_device(device: Any) -> None:
    """Raise :class:`~xpm_bench.errors.ConfigError` unless ``device`` is ``cpu`` or a CUDA
    device (``cuda``, ``cuda:N``) that this machine has: commands check it before any work."""
    text = str(device)
    if text == "cpu":
        return
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if match is None:
        raise ConfigError(f"unknown device {text!r}; accepted: cpu, cuda, cuda:N")
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(f"device {text!r}: CUDA is not available here; use cpu")
    index = int(match[1] or 0)
    if index >= torch.cuda.device_count():
        raise ConfigError(
            f"device {text!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
        )


def _ensure_registered() -> None:
    # Importing the envs package runs every register(...) call exactly once.
    importlib.import_module("xpm_bench.envs")
