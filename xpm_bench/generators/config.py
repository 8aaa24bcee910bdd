"""Generator configs as plain data, and ``key=value`` overrides for the CLI."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from xpm_bench.errors import ConfigError


def config_to_dict(config: Any) -> dict[str, Any]:
    """A (nested) config dataclass as plain dicts and lists, for files and run metadata."""
    return _plain(dataclasses.asdict(config))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def apply_overrides(config: Any, overrides: Sequence[str]) -> Any:
    """A copy of ``config`` with ``field=value`` or ``sub.field=value`` settings applied.

    Values are parsed as JSON when possible (``1e-3``, ``true``, ``[["lane_*", 0.1]]``), else
    taken as strings, and must match the type of the field they replace.
    """
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} must look like field=value")
        config = _set(config, key.strip().split("."), _parse(raw.strip()), key)
    return config


def _parse(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _set(config: Any, path: list[str], value: Any, full_key: str) -> Any:
    names = {f.name for f in dataclasses.fields(config)}
    head = path[0]
    if head not in names:
        raise ConfigError(f"unknown config field {full_key!r}; fields: {', '.join(sorted(names))}")
    current = getattr(config, head)
    if len(path) > 1:
        if not dataclasses.is_dataclass(current):
            raise ConfigError(f"config field {head!r} has no sub-fields ({full_key!r})")
        return dataclasses.replace(config, **{head: _set(current, path[1:], value, full_key)})
    return dataclasses.replace(config, **{head: _coerce(current, value, full_key)})


def _coerce(current: Any, value: Any, key: str) -> Any:
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif isinstance(current, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif isinstance(current, str):
        return str(value)
    elif isinstance(current, tuple) and isinstance(value, list):
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    raise ConfigError(f"config field {key!r} takes a {type(current).__name__}, got {value!r}")


def config_from_dict(cls: type, data: dict[str, Any], strict: bool = False) -> Any:
    """Rebuild a config of class ``cls`` from :func:`config_to_dict` output.

    ``strict``: every field (of nested configs too) must be given, so that pinned settings
    (holdout recipes, evaluation protocols) never take a default that other code may change.
    """
    defaults = cls()
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
    missing = sorted(names - set(data))
    if strict and missing:
        raise ConfigError(
            f"{cls.__name__} settings are missing field(s) {', '.join(missing)}: pinned "
            f"settings must give every field"
        )
    kwargs = {}
    for name, value in data.items():
        current = getattr(defaults, name)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            value = config_from_dict(type(current), value, strict)
        elif isinstance(current, tuple) and isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kwargs[name] = value
    return cls(**kwargs)
