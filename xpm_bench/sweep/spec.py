"""Sweep specs: a YAML file naming a grid of generate+evaluate jobs, validated up front.

A spec (keys fixed, so specs are portable between machines and versions)::

    name: mppmr-scaling          # names the default output folder
    methods: [sp, lipo, comedi]   # registered generator names
    envs: [MPPMR-v0]              # registered, versioned env ids
    pop_sizes: [2, 4, 8]          # population sizes M
    seeds: [0, 1, 2]              # top-level generator seeds
    preset: default               # generator preset (default: default)
    protocol: default             # evaluation protocol (default: default)
    set: {lipo: ["lambda_xp=0.25"]}   # optional per-method config overrides
    resources: {num_cpus: 1}      # per job: num_cpus, num_gpus, memory (bytes)

:func:`load_spec` checks everything before any job starts, against the live registries (the
generator registry and each generator's presets and config fields, the env registry, the
evaluation protocols), so a newly registered method or env needs no change here. Every problem
is a :class:`SweepSpecError` (exit code 2) whose one-line message names the file, the key and
what is accepted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xpm_bench.errors import ConfigError, XpmBenchError

KEYS = ("name", "methods", "envs", "pop_sizes", "seeds", "preset", "protocol", "set", "resources")
REQUIRED = ("name", "methods", "envs", "pop_sizes", "seeds")
RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class SweepSpecError(ConfigError):
    """A sweep spec that is missing, unreadable, not YAML or names something unknown."""


@dataclass(frozen=True)
class Resources:
    """What one job reserves. The same values drive both executors, so a job computes the
    same numbers wherever it runs.

    Attributes:
        num_cpus: CPUs per job: the Ray task's CPU reservation, and the job's torch thread
            count (rounded down, at least 1) on every executor.
        num_gpus: GPUs per job (Ray reservation); above 0 the job generates and evaluates on
            ``cuda``, else on ``cpu``.
        memory: bytes of memory reserved per Ray task (scheduling only), or None.
    """

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory: int | None = None

    @property
    def threads(self) -> int:
        return max(1, math.floor(self.num_cpus))

    @property
    def device(self) -> str:
        return "cuda" if self.num_gpus > 0 else "cpu"

    def to_dict(self) -> dict[str, Any]:
        return {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "memory": self.memory}


@dataclass(frozen=True)
class Job:
    """One cell of the grid: ``generate`` then ``evaluate`` of one (method, env, M, seed).

    Attributes:
        method: generator name.
        env_id: versioned env id.
        pop_size: population size M.
        seed: top-level generator seed.
        preset: generator preset.
        protocol: evaluation protocol name.
        overrides: ``field=value`` config overrides for this method.
        resources: what the job reserves (and its thread count and device).
    """

    method: str
    env_id: str
    pop_size: int
    seed: int
    preset: str
    protocol: str
    overrides: tuple[str, ...] = ()
    resources: Resources = field(default_factory=Resources)

    @property
    def id(self) -> str:
        """The job's folder name, e.g. ``sp__MPPMR-v0__M4__s1``."""
        return f"{self.method}__{self.env_id}__M{self.pop_size}__s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "env_id": self.env_id,
            "pop_size": self.pop_size,
            "seed": self.seed,
            "preset": self.preset,
            "protocol": self.protocol,
            "overrides": list(self.overrides),
            "resources": self.resources.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        return cls(
            method=data["method"],
            env_id=data["env_id"],
            pop_size=int(data["pop_size"]),
            seed=int(data["seed"]),
            preset=data["preset"],
            protocol=data["protocol"],
            overrides=tuple(data.get("overrides", ())),
            resources=Resources(**data.get("resources", {})),
        )


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec; see the module docstring for the keys."""

    name: str
    methods: tuple[str, ...]
    envs: tuple[str, ...]
    pop_sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    preset: str = "default"
    protocol: str = "default"
    set: dict[str, tuple[str, ...]] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)

    def jobs(self) -> list[Job]:
        """Every (method, env, M, seed) job, in that nesting order."""
        return [
            Job(
                method,
                env,
                m,
                seed,
                self.preset,
                self.protocol,
                self.set.get(method, ()),
                self.resources,
            )  # fmt: skip
            for method in self.methods
            for env in self.envs
            for m in self.pop_sizes
            for seed in self.seeds
        ]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        """Inverse of :meth:`to_dict` (a spec already validated when it was written)."""
        return cls(
            name=data["name"],
            methods=tuple(data["methods"]),
            envs=tuple(data["envs"]),
            pop_sizes=tuple(data["pop_sizes"]),
            seeds=tuple(data["seeds"]),
            preset=data["preset"],
            protocol=data["protocol"],
            set={k: tuple(v) for k, v in data.get("set", {}).items()},
            resources=Resources(**data.get("resources", {})),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "methods": list(self.methods),
            "envs": list(self.envs),
            "pop_sizes": list(self.pop_sizes),
            "seeds": list(self.seeds),
            "preset": self.preset,
            "protocol": self.protocol,
            "set": {k: list(v) for k, v in self.set.items()},
            "resources": self.resources.to_dict(),
        }


# ------------------------------------------------------------------------ loading
def load_spec(path: str | Path) -> SweepSpec:
    """Read, parse and validate the sweep spec at ``path`` (see the module docstring)."""
    return parse_spec(read_spec_text(path), source=str(path))


def read_spec_text(path: str | Path) -> str:
    """The spec file's text; a missing, unreadable or empty file is a :class:`SweepSpecError`."""
    path = Path(path)
    if not path.exists():
        raise SweepSpecError(f"sweep spec {str(path)!r} does not exist")
    if not path.is_file():
        raise SweepSpecError(f"sweep spec {str(path)!r} is not a file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise SweepSpecError(f"sweep spec {str(path)!r} cannot be read: {error}") from None
    if not text.strip():
        raise SweepSpecError(f"sweep spec {str(path)!r} is empty")
    return text


def parse_spec(text: str, source: str = "sweep spec") -> SweepSpec:
    """Parse and validate spec YAML ``text`` (``source`` names it in errors)."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise SweepSpecError(f"{source}: not valid YAML{line}: {problem}") from None
    if data is None:
        raise SweepSpecError(f"{source}: is empty")
    if not isinstance(data, dict):
        raise SweepSpecError(
            f"{source}: must be a YAML mapping of keys ({', '.join(KEYS)}), "
            f"got a {type(data).__name__}"
        )
    return _validate(data, source)


def _validate(data: dict[str, Any], source: str) -> SweepSpec:
    def fail(key: str, message: str) -> SweepSpecError:
        return SweepSpecError(f"{source}: {key}: {message}")

    unknown = [str(k) for k in data if k not in KEYS]
    if unknown:
        raise fail(unknown[0], f"unknown key; accepted: {', '.join(KEYS)}")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise fail(missing[0], "missing (required keys: " + ", ".join(REQUIRED) + ")")
    name = data["name"]
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise fail("name", f"must be a folder-safe name (letters, digits, . _ -), got {name!r}")
    methods = _str_list(data, "methods", fail)
    envs = _str_list(data, "envs", fail)
    pop_sizes = _int_list(data, "pop_sizes", fail, minimum=1)
    seeds = _int_list(data, "seeds", fail, minimum=0)
    preset = _str(data, "preset", "default", fail)
    protocol = _str(data, "protocol", "default", fail)
    overrides = _overrides(data.get("set") or {}, methods, fail)
    resources = _resources(data.get("resources") or {}, fail)
    spec = SweepSpec(name, methods, envs, pop_sizes, seeds, preset, protocol, overrides, resources)
    _check_against_registries(spec, fail)
    return spec


def _str(data: dict, key: str, default: str, fail) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        raise fail(key, f"must be a name, got {value!r}")
    return value


def _items(data: dict, key: str, fail) -> list:
    value = data[key]
    items = value if isinstance(value, list) else [value]
    if not items:
        raise fail(key, "must list at least one value")
    if len(set(map(repr, items))) != len(items):
        raise fail(key, f"lists a value twice: {value!r}")
    return items


def _str_list(data: dict, key: str, fail) -> tuple[str, ...]:
    items = _items(data, key, fail)
    bad = [v for v in items if not isinstance(v, str) or not v]
    if bad:
        raise fail(key, f"must be a list of names, got {bad[0]!r}")
    return tuple(items)


def _int_list(data: dict, key: str, fail, minimum: int) -> tuple[int, ...]:
    items = _items(data, key, fail)
    bad = [v for v in items if not isinstance(v, int) or isinstance(v, bool) or v < minimum]
    if bad:
        raise fail(key, f"must be a list of integers >= {minimum}, got {bad[0]!r}")
    return tuple(items)


def _overrides(raw: Any, methods: tuple[str, ...], fail) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise fail("set", "must map method names to lists of field=value overrides")
    out = {}
    for method, items in raw.items():
        if method not in methods:
            raise fail(f"set.{method}", f"names no method of this sweep ({', '.join(methods)})")
        items = items if isinstance(items, list) else [items]
        for item in items:
            if not isinstance(item, str) or "=" not in item:
                raise fail(f"set.{method}", f"override {item!r} must look like field=value")
        out[str(method)] = tuple(items)
    return out


def _resources(raw: Any, fail) -> Resources:
    if not isinstance(raw, dict):
        raise fail("resources", f"must be a mapping with keys {', '.join(RESOURCE_KEYS)}")
    unknown = [str(k) for k in raw if k not in RESOURCE_KEYS]
    if unknown:
        raise fail(f"resources.{unknown[0]}", f"unknown key; accepted: {', '.join(RESOURCE_KEYS)}")
    values = {}
    for key, value in raw.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if key == "memory" and value is not None and not (number and value > 0):
            raise fail("resources.memory", f"must be a number of bytes > 0, got {value!r}")
        if key != "memory" and not (number and math.isfinite(value) and value >= 0):
            raise fail(f"resources.{key}", f"must be a number >= 0, got {value!r}")
        values[key] = int(value) if key == "memory" and value is not None else value
    if "num_cpus" in values and values["num_cpus"] <= 0:
        raise fail("resources.num_cpus", f"must be > 0, got {values['num_cpus']!r}")
    return Resources(**{k: float(v) if k != "memory" else v for k, v in values.items()})


def _check_against_registries(spec: SweepSpec, fail) -> None:
    """Ask the registries about every name: methods, envs, presets, overrides, protocols,
    seeds. The first error found is raised with the spec key it belongs to."""
    from xpm_bench.evaluation.protocol import get_protocol
    from xpm_bench.generators import get_generator
    from xpm_bench.generators.run import build_config
    from xpm_bench.registry import spec as env_spec
    from xpm_bench.seeding import check_training_seed

    checks = [("methods", lambda m=m: get_generator(m)) for m in spec.methods]
    checks += [("envs", lambda e=e: env_spec(e)) for e in spec.envs]
    checks += [("seeds", lambda s=s: check_training_seed(s)) for s in spec.seeds]
    checks += [("protocol", lambda e=e: get_protocol(e, spec.protocol)) for e in spec.envs]
    # building each config runs the generator's own checks: unknown presets, then unknown
    # fields and ill-typed values in the overrides, before any job runs
    for method in spec.methods:
        for env in spec.envs:
            checks.append(("preset", lambda m=method, e=env: build_config(m, e, spec.preset)))
            if method in spec.set:
                checks.append(
                    (
                        f"set.{method}",
                        lambda m=method, e=env: build_config(m, e, spec.preset, spec.set[m]),
                    )
                )
    for key, check in checks:
        try:
            check()
        except XpmBenchError as error:
            raise fail(key, str(error)) from None
