"""Populations of partner agents and their file format, ``pop.pt``.

A population file is a plain dict of tensors, numbers, strings, lists and dicts written with
``torch.save`` and read only with ``torch.load(..., weights_only=True)``, so loading a file can
never run code from it. Everything is validated on load, and every problem raises
:class:`~xpm_bench.errors.PopulationFileError` with a message naming the field. The format is
documented in ``docs/population_format.md``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from xpm_bench.agents.networks import NetPolicy, build_network
from xpm_bench.errors import PopulationFileError
from xpm_bench.io import atomic_torch_save, safe_torch_load, tensor_digest
from xpm_bench.registry import ID_PATTERN

FORMAT_NAME = "xpm-bench-population"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)


@dataclass
class Member:
    """One agent: a registry architecture, its constructor arguments and its weights.

    Attributes:
        name: a label unique within the population, e.g. ``"sp-0"``.
        arch: a key of :data:`xpm_bench.agents.networks.ARCHITECTURES`.
        arch_kwargs: plain keyword arguments of that architecture.
        state_dict: the actor's weights.
        seed: the seed the member was trained from, if any.
        info: plain per-member extras (training stats, latent ids, ...).
    """

    name: str
    arch: str
    arch_kwargs: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    seed: int | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def build(self, device: str | torch.device = "cpu") -> torch.nn.Module:
        """The actor network with this member's weights."""
        net = build_network(self.arch, self.arch_kwargs, where=f"member {self.name!r}: arch")
        try:
            net.load_state_dict(self.state_dict, strict=True)
        except (RuntimeError, KeyError, TypeError) as error:
            first = str(error).strip().splitlines()[0:3]
            raise PopulationFileError(
                f"member {self.name!r}: state_dict does not fit {self.arch!r} with its "
                f"arch_kwargs: {' '.join(first)}"
            ) from None
        return net.to(device).eval()

    def policy(
        self, device: str | torch.device = "cpu", deterministic: bool = False, seed: int = 0
    ) -> NetPolicy:
        """A :class:`NetPolicy` for this member."""
        return NetPolicy(
            self.build(device), deterministic, seed=seed, device=device, name=self.name
        )


@dataclass
class Population:
    """A set of partner agents plus the manifest describing how they were made.

    Attributes:
        env_id: the full versioned environment id, e.g. ``"MPPMR-v0"``.
        method: the generator name, e.g. ``"sp"``.
        config: the generator's full config as a plain dict.
        seeds: ``{"seed": top-level seed, ...}`` plain values.
        ledger: the sample-cost ledger (see :mod:`xpm_bench.rl.ledger`) or ``None``.
        members: the agents.
        env_kwargs: keyword arguments the env was built with (beyond its registered defaults).
        shared: shared modules (e.g. a world-model encoder), name -> state_dict, stored once.
        format_version: file format version.
        library_version: the xpm-bench version that wrote it.
    """

    env_id: str
    method: str
    config: dict[str, Any]
    seeds: dict[str, Any]
    ledger: dict[str, Any] | None
    members: list[Member]
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    shared: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    library_version: str = ""

    def __post_init__(self) -> None:
        if not self.library_version:
            from xpm_bench import __version__

            self.library_version = __version__

    def __len__(self) -> int:
        return len(self.members)

    def policies(self, device: str = "cpu", deterministic: bool = False) -> list[NetPolicy]:
        """One :class:`NetPolicy` per member (stochastic unless ``deterministic``)."""
        return [m.policy(device, deterministic, seed=i) for i, m in enumerate(self.members)]

    def to_dict(self) -> dict[str, Any]:
        """The plain dict stored in ``pop.pt``."""
        return {
            "format": FORMAT_NAME,
            "format_version": int(self.format_version),
            "library_version": str(self.library_version),
            "env_id": self.env_id,
            "env_kwargs": dict(self.env_kwargs),
            "method": self.method,
            "config": self.config,
            "seeds": self.seeds,
            "ledger": self.ledger,
            "members": [
                {
                    "name": m.name,
                    "arch": m.arch,
                    "arch_kwargs": dict(m.arch_kwargs),
                    "state_dict": {k: v.detach().cpu() for k, v in m.state_dict.items()},
                    "seed": m.seed,
                    "info": m.info,
                }
                for m in self.members
            ],
            "shared": {
                name: {k: v.detach().cpu() for k, v in sd.items()}
                for name, sd in self.shared.items()
            },
        }


# ----------------------------------------------------------------------- save / load
def save_population(pop: Population, path: str | os.PathLike) -> Path:
    """Validate ``pop`` and write it to ``path`` atomically (temp file, then rename)."""
    data = pop.to_dict()
    validate_population_dict(data)
    path = Path(path)
    atomic_torch_save(data, path)
    return path


def load_population(path: str | os.PathLike) -> Population:
    """Read and validate ``pop.pt``; never runs code from the file.

    Raises :class:`PopulationFileError` naming the problem for a missing, truncated, corrupt,
    foreign, unsupported or unsafe file, or one whose members do not rebuild.
    """
    data = safe_torch_load(path)
    validate_population_dict(data)
    pop = population_from_dict(data)
    for member in pop.members:
        member.build()  # checks that weights fit the architecture
    return pop


def population_from_dict(data: dict[str, Any]) -> Population:
    """A :class:`Population` from a validated file dict."""
    members = [
        Member(
            name=m["name"],
            arch=m["arch"],
            arch_kwargs=dict(m["arch_kwargs"]),
            state_dict=dict(m["state_dict"]),
            seed=m.get("seed"),
            info=dict(m.get("info") or {}),
        )
        for m in data["members"]
    ]
    return Population(
        env_id=data["env_id"],
        method=data["method"],
        config=data["config"],
        seeds=data["seeds"],
        ledger=data["ledger"],
        members=members,
        env_kwargs=dict(data.get("env_kwargs") or {}),
        shared=dict(data.get("shared") or {}),
        format_version=data["format_version"],
        library_version=data["library_version"],
    )


# ---------------------------------------------------------------------------- checks
def _fail(message: str) -> None:
    raise PopulationFileError(message)


def _require(data: dict, key: str, types: type | tuple[type, ...], where: str = "") -> Any:
    name = f"{where}{key}"
    if key not in data:
        _fail(f"population file is missing field {name!r}")
    value = data[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _tuple(types)):
        expected = " or ".join(t.__name__ for t in _tuple(types))
        _fail(f"field {name!r} must be {expected}, got {type(value).__name__}")
    return value


def _tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _check_plain_tree(value: Any, where: str, allow_tensors: bool = False) -> None:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        return
    if allow_tensors and isinstance(value, torch.Tensor):
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_plain_tree(item, f"{where}[{i}]", allow_tensors)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                _fail(f"field {where!r} has a non-string key {key!r}")
            _check_plain_tree(item, f"{where}.{key}", allow_tensors)
        return
    _fail(f"field {where!r} holds a {type(value).__name__}, expected plain data")


def _check_state_dict(sd: Any, where: str) -> None:
    if not isinstance(sd, dict) or not sd:
        _fail(f"field {where!r} must be a non-empty dict of tensors")
    for key, tensor in sd.items():
        if not isinstance(key, str):
            _fail(f"field {where!r} has a non-string key {key!r}")
        if not isinstance(tensor, torch.Tensor):
            _fail(f"field {where}[{key!r}] must be a tensor, got {type(tensor).__name__}")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            _fail(f"field {where}[{key!r}] holds NaN or infinite values")


def _check_ledger(ledger: Any) -> None:
    if ledger is None:
        return
    if not isinstance(ledger, dict):
        _fail(f"field 'ledger' must be a dict or None, got {type(ledger).__name__}")
    for key in ("env_steps", "imagined_steps"):
        value = _require(ledger, key, int, "ledger.")
        if value < 0:
            _fail(f"field 'ledger.{key}' must be >= 0, got {value}")
    by_kind = _require(ledger, "env_steps_by_kind", dict, "ledger.")
    for kind, value in by_kind.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            _fail(f"field 'ledger.env_steps_by_kind.{kind}' must be a non-negative int")
    if sum(by_kind.values()) != ledger["env_steps"]:
        _fail(
            f"field 'ledger.env_steps' ({ledger['env_steps']}) is not the sum of "
            f"'ledger.env_steps_by_kind' ({sum(by_kind.values())})"
        )
    _check_imagined_split(ledger)
    wall = _require(ledger, "wall_clock_s", (int, float), "ledger.")
    if not math.isfinite(wall) or wall < 0:
        _fail(f"field 'ledger.wall_clock_s' must be a finite number >= 0, got {wall}")
    _check_plain_tree(ledger, "ledger")


def _check_imagined_split(ledger: dict) -> None:
    # optional: ledgers written before imagined steps were split by kind lack it
    by_kind = ledger.get("imagined_steps_by_kind")
    if by_kind is None:
        return
    if not isinstance(by_kind, dict):
        _fail("field 'ledger.imagined_steps_by_kind' must be a dict")
    for kind, value in by_kind.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            _fail(f"field 'ledger.imagined_steps_by_kind.{kind}' must be a non-negative int")
    if sum(by_kind.values()) != ledger["imagined_steps"]:
        _fail(
            f"field 'ledger.imagined_steps' ({ledger['imagined_steps']}) is not the sum of "
            f"'ledger.imagined_steps_by_kind' ({sum(by_kind.values())})"
        )


def validate_population_dict(data: Any) -> None:
    """Check the structure and types of a loaded ``pop.pt`` dict (not the weights' fit)."""
    if not isinstance(data, dict):
        _fail(
            f"not an xpm-bench population file: top level is a {type(data).__name__}, "
            f"expected a dict with 'format': {FORMAT_NAME!r}"
        )
    if data.get("format") != FORMAT_NAME:
        _fail(
            f"not an xpm-bench population file: field 'format' is {data.get('format')!r}, "
            f"expected {FORMAT_NAME!r}"
        )
    version = _require(data, "format_version", int)
    if version not in SUPPORTED_VERSIONS:
        _fail(
            f"field 'format_version' is {version}; this xpm-bench reads "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}"
        )
    _require(data, "library_version", str)
    env_id = _require(data, "env_id", str)
    if not ID_PATTERN.match(env_id):
        _fail(f"field 'env_id' {env_id!r} is not a versioned id 'Family[-Variant]-vN'")
    if not _require(data, "method", str):
        _fail("field 'method' is empty")
    _check_plain_tree(_require(data, "config", dict), "config")
    _check_plain_tree(_require(data, "seeds", dict), "seeds")
    _check_plain_tree(data.get("env_kwargs") or {}, "env_kwargs")
    if "ledger" not in data:
        _fail("population file is missing field 'ledger'")
    _check_ledger(data["ledger"])
    members = _require(data, "members", list)
    if not members:
        _fail("field 'members' is empty: a population needs at least one member")
    names = set()
    for i, member in enumerate(members):
        where = f"members[{i}]."
        if not isinstance(member, dict):
            _fail(f"field 'members[{i}]' must be a dict, got {type(member).__name__}")
        name = _require(member, "name", str, where)
        if name in names:
            _fail(f"field 'members[{i}].name' repeats the name {name!r}")
        names.add(name)
        _require(member, "arch", str, where)
        _check_plain_tree(_require(member, "arch_kwargs", dict, where), f"{where}arch_kwargs")
        _check_state_dict(member.get("state_dict"), f"{where}state_dict")
        seed = member.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            _fail(f"field '{where}seed' must be an int or None")
        _check_plain_tree(member.get("info") or {}, f"{where}info", allow_tensors=True)
    shared = data.get("shared") or {}
    if not isinstance(shared, dict):
        _fail("field 'shared' must be a dict of state_dicts")
    for name, sd in shared.items():
        _check_state_dict(sd, f"shared.{name}")


# ---------------------------------------------------------------------- content hash
def population_content_hash(pop: Population) -> str:
    """``sha256:<hex>`` over everything a population file holds except the ledger's
    wall-clock time.

    Two runs of the same generator job give files whose bytes differ only in the time they
    took; this hash is equal for them, so it identifies the population itself (weights enter
    as dtype, shape and a digest of their bytes). Compare files with it, e.g. the same sweep
    job run by two executors.
    """
    data = pop.to_dict()
    if data.get("ledger"):
        data["ledger"] = {k: v for k, v in data["ledger"].items() if k != "wall_clock_s"}
    text = json.dumps(_canonical(data), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return tensor_digest(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value
