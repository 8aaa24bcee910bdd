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

from xpm_bench.agents.base import Policy
from xpm_bench.agents.networks import NetPolicy, build_network
from xpm_bench.errors import PopulationFileError, XpmBenchError
from xpm_bench.io import atomic_torch_save, safe_torch_load, tensor_digest
from xpm_bench.registry import ID_PATTERN

FORMAT_NAME = "xpm-bench-population"
FORMAT_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
# Version 2 adds shared modules with a spec ({"module", "spec", "state_dict"}) and members
# that act on their features (a member's "shared" field). A file that uses neither is written
# as version 1, which every reader of that version still reads.
SHARED_MODULES = ("world_model",)
"""Kinds of shared module a population file may hold (version 2)."""


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
        shared: name of the shared module (in the population's ``shared`` section) whose
            features this member's actor reads instead of raw observations; ``None`` for an
            actor on observations.
    """

    name: str
    arch: str
    arch_kwargs: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    seed: int | None = None
    info: dict[str, Any] = field(default_factory=dict)
    shared: str | None = None

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
        self,
        device: str | torch.device = "cpu",
        deterministic: bool = False,
        seed: int = 0,
        shared_module: torch.nn.Module | None = None,
    ) -> Policy:
        """A :class:`NetPolicy` for this member, or a
        :class:`~xpm_bench.agents.wm_actor.WMFeaturePolicy` over ``shared_module`` when the
        member acts on shared features."""
        if self.shared is not None:
            from xpm_bench.agents.wm_actor import WMFeaturePolicy

            if shared_module is None:
                raise PopulationFileError(
                    f"member {self.name!r} acts on shared module {self.shared!r}: pass it"
                )
            return WMFeaturePolicy(
                shared_module, self.build(device), deterministic, seed, device, self.name
            )
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
        shared: shared modules stored once, name -> ``{"module": kind in SHARED_MODULES,
            "spec": plain constructor data, "state_dict": weights}`` (format 2; a version-1
            file may hold bare state_dicts here, which no member can use).
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
    shared: dict[str, dict[str, Any]] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    library_version: str = ""

    def __post_init__(self) -> None:
        if not self.library_version:
            from xpm_bench import __version__

            self.library_version = __version__

    def __len__(self) -> int:
        return len(self.members)

    def policies(self, device: str = "cpu", deterministic: bool = False) -> list[Policy]:
        """One policy per member (stochastic unless ``deterministic``): a :class:`NetPolicy`,
        or a world-model feature policy for members that act on a shared module."""
        modules = {m.shared: self.shared_module(m.shared) for m in self.members if m.shared}
        return [
            m.policy(device, deterministic, seed=i, shared_module=modules.get(m.shared or ""))
            for i, m in enumerate(self.members)
        ]

    def shared_module(self, name: str) -> torch.nn.Module:
        """The shared module ``name`` built from its spec with its weights (checked fit)."""
        return build_shared_module(name, self.shared.get(name))

    def observation_shape(self, member: Member) -> tuple[int, ...] | None:
        """The real observation shape ``member`` expects (through its shared module, if any)."""
        if member.shared is not None:
            spec = self.shared[member.shared]["spec"]
            from xpm_bench.wm.codecs import codec_from_spec

            return tuple(codec_from_spec(dict(spec["codec"])).obs_shape)
        shape = member.arch_kwargs.get("obs_shape")
        return tuple(shape) if shape is not None else None

    def required_format_version(self) -> int:
        """2 if the population uses shared modules with specs or members on them, else 1."""
        uses_v2 = any(m.shared is not None for m in self.members) or any(
            _is_module_entry(entry) for entry in self.shared.values()
        )
        return 2 if uses_v2 else 1

    def to_dict(self) -> dict[str, Any]:
        """The plain dict stored in ``pop.pt``."""
        version = self.required_format_version()
        members = []
        for m in self.members:
            entry = {
                "name": m.name,
                "arch": m.arch,
                "arch_kwargs": dict(m.arch_kwargs),
                "state_dict": {k: v.detach().cpu() for k, v in m.state_dict.items()},
                "seed": m.seed,
                "info": m.info,
            }
            if version >= 2:
                entry["shared"] = m.shared
            members.append(entry)
        return {
            "format": FORMAT_NAME,
            "format_version": version,
            "library_version": str(self.library_version),
            "env_id": self.env_id,
            "env_kwargs": dict(self.env_kwargs),
            "method": self.method,
            "config": self.config,
            "seeds": self.seeds,
            "ledger": self.ledger,
            "members": members,
            "shared": {name: _shared_to_cpu(entry) for name, entry in self.shared.items()},
        }


def _is_module_entry(entry: Any) -> bool:
    return isinstance(entry, dict) and "module" in entry and "state_dict" in entry


def _shared_to_cpu(entry: dict[str, Any]) -> dict[str, Any]:
    if _is_module_entry(entry):
        return {
            "module": entry["module"],
            "spec": entry["spec"],
            "state_dict": {k: v.detach().cpu() for k, v in entry["state_dict"].items()},
        }
    return {k: v.detach().cpu() for k, v in entry.items()}


def shared_entry(module: torch.nn.Module) -> dict[str, Any]:
    """The ``shared`` section entry of a module (currently a world model): kind, spec, weights."""
    from xpm_bench.wm.model import MODULE_NAME, WorldModel

    if not isinstance(module, WorldModel):
        raise TypeError(f"cannot store a {type(module).__name__} as a shared module")
    state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    return {"module": MODULE_NAME, "spec": module.spec(), "state_dict": state}


def build_shared_module(name: str, entry: Any) -> torch.nn.Module:
    """Rebuild shared module ``name`` from its file entry; a problem raises
    :class:`PopulationFileError` naming the field."""
    where = f"shared.{name}"
    if not _is_module_entry(entry):
        _fail(f"field {where!r} is not a shared module with 'module', 'spec' and 'state_dict'")
    from xpm_bench.wm.model import WorldModel

    try:
        module = WorldModel.from_spec(dict(entry["spec"]))
    except (KeyError, TypeError, ValueError) as error:
        _fail(f"field '{where}.spec' does not describe a {entry['module']}: {error}")
    except XpmBenchError as error:
        _fail(f"field '{where}.spec' does not describe a {entry['module']}: {error}")
    expected = module.state_dict()
    given = entry["state_dict"]
    for key in sorted(set(expected) - set(given)):
        _fail(f"field '{where}.state_dict' is missing {key!r}")
    for key in sorted(set(given) - set(expected)):
        _fail(f"field '{where}.state_dict' holds {key!r}, which its spec has no place for")
    for key, tensor in expected.items():
        if tuple(given[key].shape) != tuple(tensor.shape):
            _fail(
                f"field '{where}.state_dict[{key!r}]' has shape {tuple(given[key].shape)}, "
                f"its spec needs {tuple(tensor.shape)}"
            )
    module.load_state_dict(given, strict=True)
    return module.eval()


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
    check_population_builds(pop)
    return pop


def check_population_builds(pop: Population) -> None:
    """Rebuild every shared module and member: weights fit, members fit their modules."""
    modules = {
        name: build_shared_module(name, entry)
        for name, entry in pop.shared.items()
        if _is_module_entry(entry)
    }
    for i, member in enumerate(pop.members):
        member.build()  # checks that weights fit the architecture
        if member.shared is None:
            continue
        feat = [int(modules[member.shared].feat_dim)]
        shape = member.arch_kwargs.get("obs_shape")
        if shape is None or [int(d) for d in shape] != feat:
            _fail(
                f"field 'members[{i}].arch_kwargs.obs_shape' is {shape}, but shared module "
                f"{member.shared!r} gives features of shape {feat}"
            )


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
            shared=m.get("shared"),
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
    _check_shared(data.get("shared") or {}, version)
    for i, member in enumerate(members):
        _check_member_shared(member, i, data.get("shared") or {}, version)


def _check_shared(shared: Any, version: int) -> None:
    if not isinstance(shared, dict):
        _fail("field 'shared' must be a dict of shared modules")
    for name, entry in shared.items():
        where = f"shared.{name}"
        if not _is_module_entry(entry):  # a bare state_dict (version 1 files)
            _check_state_dict(entry, where)
            continue
        if version < 2:
            _fail(f"field {where!r} is a shared module, which needs format_version 2")
        module = _require(entry, "module", str, f"{where}.")
        if module not in SHARED_MODULES:
            _fail(f"field '{where}.module' is {module!r}; accepted: {', '.join(SHARED_MODULES)}")
        _check_plain_tree(_require(entry, "spec", dict, f"{where}."), f"{where}.spec")
        _check_state_dict(entry["state_dict"], f"{where}.state_dict")


def _check_member_shared(member: dict, i: int, shared: dict, version: int) -> None:
    name = member.get("shared")
    if name is None:
        return
    where = f"members[{i}].shared"
    if version < 2:
        _fail(f"field {where!r} needs format_version 2")
    if not isinstance(name, str):
        _fail(f"field {where!r} must be a string or None")
    if name not in shared:
        _fail(f"field {where!r} names shared module {name!r}, which is not in field 'shared'")
    if not _is_module_entry(shared[name]):
        _fail(f"field {where!r} names 'shared.{name}', which is not a shared module with a spec")


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
