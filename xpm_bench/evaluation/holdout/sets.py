"""Holdout partner sets as data: :class:`PartnerSpec`, :class:`HoldoutSet`, their content hash
and their plain-data form (what the cache stores)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import torch

from xpm_bench.agents.base import Policy
from xpm_bench.errors import XpmBenchError
from xpm_bench.io import sha256_json, tensor_digest

HOLDOUT_FORMAT_VERSION = 1

# What a result says about comparing holdout hashes.
HASH_COMPARISON = (
    "recipe_fingerprint does not depend on the machine: equal fingerprints mean the same recipe "
    "(partner kinds, settings, seeds, budgets). hash, the set's content hash, also covers the "
    "bytes of trained partners' weights, which depend on the float rounding of the machine that "
    "trained them (CPU model, torch build, thread count). Equal hashes mean the very same "
    "partners; for results from different machines compare recipe_fingerprint, or score both "
    "against one shared cache file (`xpm-bench holdout list` shows where it is)."
)


class HoldoutError(XpmBenchError, ValueError):
    """An unknown holdout family, or a cache file that is malformed or does not match."""


@dataclass(frozen=True)
class PartnerSpec:
    """Everything that defines one holdout partner.

    Attributes:
        name: unique within its set, e.g. ``landmark2-lane1`` or ``onion-cook``.
        group: the partner group, e.g. ``scripted``, ``bc-human-proxy``, ``sp-population``.
        builder: key in the partner-builder registry that rebuilds the policy.
        params: JSON-serialisable constructor parameters.
        weights: named tensors for trained partners (empty for scripted ones).
    """

    name: str
    group: str
    builder: str
    params: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, torch.Tensor] = field(default_factory=dict)

    def canonical(self) -> dict[str, Any]:
        """The hashed description: weights enter as dtype, shape and a digest of their bytes."""
        return {
            "name": self.name,
            "group": self.group,
            "builder": self.builder,
            "params": self.params,
            "weights": {key: tensor_digest(t) for key, t in sorted(self.weights.items())},
        }


@dataclass(frozen=True)
class HoldoutSet:
    """A named, versioned list of partners for one env id."""

    name: str
    env_id: str
    version: int
    partners: tuple[PartnerSpec, ...]
    description: str = ""

    @property
    def content_hash(self) -> str:
        """``sha256:<hex>`` over the canonical description (stable across rebuilds on one
        machine; see :data:`HASH_COMPARISON` for other machines)."""
        canonical = {
            "format_version": HOLDOUT_FORMAT_VERSION,
            "name": self.name,
            "env_id": self.env_id,
            "version": self.version,
            "partners": [p.canonical() for p in self.partners],
        }
        return sha256_json(canonical)

    @property
    def partner_names(self) -> list[str]:
        return [p.name for p in self.partners]

    def policies(self) -> list[tuple[str, Policy]]:
        """``(name, policy)`` for every partner, rebuilt with the registered builders."""
        from xpm_bench.evaluation.holdout.builders import build_partner

        return [(p.name, build_partner(p, self.env_id)) for p in self.partners]

    def summary(self) -> dict[str, Any]:
        """What a result records about the set it was scored against."""
        return {
            "name": self.name,
            "env_id": self.env_id,
            "version": self.version,
            "hash": self.content_hash,
            "partners": self.partner_names,
        }

    # ------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain tensors, numbers and strings only (loadable with ``weights_only=True``)."""
        return {
            "format_version": HOLDOUT_FORMAT_VERSION,
            "name": self.name,
            "env_id": self.env_id,
            "version": self.version,
            "description": self.description,
            "content_hash": self.content_hash,
            "partners": [
                {
                    "name": p.name,
                    "group": p.group,
                    "builder": p.builder,
                    "params_json": json.dumps(p.params, sort_keys=True),
                    "weights": {k: t.detach().cpu().clone() for k, t in p.weights.items()},
                }
                for p in self.partners
            ],
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "holdout data") -> HoldoutSet:
        """Rebuild from :meth:`to_dict` output; reject anything malformed, naming the field."""
        if not isinstance(data, dict):
            raise HoldoutError(f"{source}: expected a dict, got {type(data).__name__}")
        version = data.get("format_version")
        if version != HOLDOUT_FORMAT_VERSION:
            raise HoldoutError(
                f"{source}: format_version {version!r} is not {HOLDOUT_FORMAT_VERSION}"
            )
        for key, kind in (("name", str), ("env_id", str), ("version", int), ("partners", list)):
            if not isinstance(data.get(key), kind):
                raise HoldoutError(f"{source}: field {key!r} missing or not a {kind.__name__}")
        partners = tuple(
            _partner_from_dict(p, f"{source}: partners[{i}]")
            for i, p in enumerate(data["partners"])
        )
        holdout = cls(
            name=data["name"],
            env_id=data["env_id"],
            version=data["version"],
            partners=partners,
            description=str(data.get("description", "")),
        )
        stored = data.get("content_hash")
        if stored != holdout.content_hash:
            raise HoldoutError(
                f"{source}: stored content_hash {stored!r} does not match the content "
                f"({holdout.content_hash}); the file is corrupt or was edited"
            )
        return holdout


def _partner_from_dict(data: Any, where: str) -> PartnerSpec:
    if not isinstance(data, dict):
        raise HoldoutError(f"{where}: expected a dict")
    for key in ("name", "group", "builder", "params_json"):
        if not isinstance(data.get(key), str):
            raise HoldoutError(f"{where}: field {key!r} missing or not a string")
    weights = data.get("weights", {})
    if not isinstance(weights, dict) or not all(
        isinstance(k, str) and isinstance(t, torch.Tensor) for k, t in weights.items()
    ):
        raise HoldoutError(f"{where}: field 'weights' must map names to tensors")
    try:
        params = json.loads(data["params_json"])
    except json.JSONDecodeError as error:
        raise HoldoutError(f"{where}: field 'params_json' is not JSON ({error})") from None
    return PartnerSpec(data["name"], data["group"], data["builder"], params, dict(weights))
