"""Holdout partner sets: versioned, content-hashed, cached on disk.

A holdout set is the list of partners an ego agent is scored against after training. It must
be identical for everyone who reports a number, so it is

- **defined by a recipe** per environment family and tier (:class:`HoldoutRecipe`): a name, a
  version and partner groups (functions ``(env_id, BuildContext) -> [PartnerSpec]``).
  Changing what a recipe builds means registering it again with a higher version; old
  versions keep their cache files.
- **content-hashed**: :attr:`HoldoutSet.content_hash` is a SHA-256 over a canonical JSON of
  everything that defines the partners (env id, set name and version, and for each partner its
  name, group, builder, parameters and, for trained partners, the dtype, shape and bytes of
  every weight tensor). The hash goes into every evaluation result.
- **cached**: :func:`build_holdout` writes ``<cache>/<env_id>/<name>-v<version>.pt`` (plain
  tensors, numbers and strings) and later loads it with ``torch.load(weights_only=True)``, so
  loading never runs code; the stored hash is checked against the recomputed one.

Cache directory: ``$XPM_BENCH_CACHE/holdout`` when the ``XPM_BENCH_CACHE`` environment variable
is set, else ``~/.cache/xpm-bench/holdout``.

Built-in recipes, each in two tiers (``standard`` for reported results, ``smoke`` with
test-sized budgets for the smoke protocols): MPPMR (every scripted convention agent: each
landmark x lane); Overcooked and OvercookedClassic on the five classic layouts (version 3: the
scripted cooks of :mod:`xpm_bench.agents.overcooked_scripted`, one behaviour-cloned human proxy
per layout, :mod:`xpm_bench.evaluation.human_proxy`, and a self-play population trained with
the ``sp`` generator from seeds reserved for holdouts, :func:`sp_holdout_population`). New
partner kinds register a builder (:func:`register_partner_builder`, which rebuilds a policy
from a spec's parameters and weights) and a new recipe version whose groups include them
(:func:`register_recipe`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from xpm_bench.agents.base import Policy
from xpm_bench.errors import UnknownEnvError, XpmBenchError
from xpm_bench.io import atomic_path
from xpm_bench.population import tensor_digest
from xpm_bench.registry import parse_id, registered_ids, spec

HOLDOUT_FORMAT_VERSION = 1
CACHE_ENV_VAR = "XPM_BENCH_CACHE"

# The five classic Overcooked layouts, by the variant part of their env id.
CLASSIC_OVERCOOKED_LAYOUTS = {
    "CrampedRoom": "cramped_room",
    "AsymmetricAdvantages": "asymmetric_advantages",
    "CoordinationRing": "coordination_ring",
    "ForcedCoordination": "forced_coordination",
    "CounterCircuit": "counter_circuit_o_1order",
}


class HoldoutError(XpmBenchError, ValueError):
    """An unknown holdout family, or a cache file that is malformed or does not match."""


# ---------------------------------------------------------------------- data types
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
    """A named, versioned list of partners for one env id; see the module docstring."""

    name: str
    env_id: str
    version: int
    partners: tuple[PartnerSpec, ...]
    description: str = ""

    @property
    def content_hash(self) -> str:
        """``sha256:<hex>`` over the canonical description (stable across rebuilds)."""
        canonical = {
            "format_version": HOLDOUT_FORMAT_VERSION,
            "name": self.name,
            "env_id": self.env_id,
            "version": self.version,
            "partners": [p.canonical() for p in self.partners],
        }
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    @property
    def partner_names(self) -> list[str]:
        return [p.name for p in self.partners]

    def policies(self) -> list[tuple[str, Policy]]:
        """``(name, policy)`` for every partner, rebuilt with the registered builders."""
        return [(p.name, build_partner(p, self.env_id)) for p in self.partners]

    def summary(self) -> dict[str, Any]:
        """What a result records about the set it was scored against."""
        return {
            "name": self.name,
            "env_id": self.env_id,
            "version": self.version,
            "content_hash": self.content_hash,
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


# ---------------------------------------------------------------- partner builders
PartnerBuilder = Callable[[PartnerSpec, str], Policy]
PARTNER_BUILDERS: dict[str, PartnerBuilder] = {}


def register_partner_builder(name: str, builder: PartnerBuilder) -> None:
    """Register how to rebuild a partner policy from its spec (and the env id)."""
    if name in PARTNER_BUILDERS:
        raise ValueError(f"partner builder {name!r} is already registered")
    PARTNER_BUILDERS[name] = builder


def build_partner(spec: PartnerSpec, env_id: str) -> Policy:
    """The policy ``spec`` describes, for ``env_id``."""
    if spec.builder not in PARTNER_BUILDERS:
        raise HoldoutError(
            f"partner {spec.name!r} needs builder {spec.builder!r}; registered: "
            f"{', '.join(sorted(PARTNER_BUILDERS))}"
        )
    return PARTNER_BUILDERS[spec.builder](spec, env_id)


def _build_mppmr_convention(spec: PartnerSpec, env_id: str) -> Policy:
    from xpm_bench.agents.base import CellTablePolicy
    from xpm_bench.envs.mppmr import convention_action_table
    from xpm_bench.registry import make

    layout = make(env_id).layout
    table = convention_action_table(layout, spec.params["landmark"], spec.params["lane"])
    return CellTablePolicy(table, layout.num_cells, name=spec.name)


def _build_overcooked_cook(spec: PartnerSpec, env_id: str) -> Policy:
    from xpm_bench.agents.overcooked_scripted import OvercookedCook

    return OvercookedCook(name=spec.name, **spec.params)


register_partner_builder("mppmr-convention", _build_mppmr_convention)
register_partner_builder("overcooked-cook", _build_overcooked_cook)


# ------------------------------------------------------------------------ recipes
ProgressFn = Callable[[str], None]


# ``map_fn(fn, calls)`` runs ``fn(**kwargs)`` for every kwargs dict in ``calls`` and returns
# the results in order: one after another by default, or in parallel (e.g. as Ray tasks,
# ``xpm_bench.sweep.executors.ray_map``). ``fn`` and the kwargs must be picklable.
MapFn = Callable[[Callable[..., Any], Sequence[dict[str, Any]]], list[Any]]


def sequential_map(fn: Callable[..., Any], calls: Sequence[dict[str, Any]]) -> list[Any]:
    """The default :data:`MapFn`: the calls one after another, in this process."""
    return [fn(**kwargs) for kwargs in calls]


@dataclass(frozen=True)
class BuildContext:
    """What partner groups may use while building: the cache directory (groups that train
    partners keep their own resumable runs under it), a progress callback and the map that
    runs independent partner trainings (:data:`MapFn`)."""

    cache_dir: Path
    progress: ProgressFn = field(default=lambda message: None)
    map_fn: MapFn = sequential_map


PartnerGroup = Callable[[str, BuildContext], list[PartnerSpec]]

# Recipe tiers: ``standard`` sets are the ones results are reported against; ``smoke`` sets
# keep the same partner groups at test-sized budgets (the smoke evaluation protocols use them).
TIERS = ("standard", "smoke")


@dataclass(frozen=True)
class HoldoutRecipe:
    """How to build the holdout set of every env in ``family`` (the id's first part).

    ``groups`` are called in order with the env id and a :class:`BuildContext`; their partners
    form the set. ``tier`` is ``standard`` or ``smoke``.
    """

    family: str
    name: str
    version: int
    groups: tuple[PartnerGroup, ...]
    description: str = ""
    tier: str = "standard"

    def build(self, env_id: str, context: BuildContext | None = None) -> HoldoutSet:
        context = context or BuildContext(default_cache_dir())
        partners = tuple(p for group in self.groups for p in group(env_id, context))
        names = [p.name for p in partners]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise HoldoutError(f"holdout {self.name}: duplicated partner names {duplicated}")
        return HoldoutSet(self.name, env_id, self.version, partners, self.description)


RECIPES: dict[tuple[str, str], HoldoutRecipe] = {}


def register_recipe(recipe: HoldoutRecipe) -> None:
    """Make ``recipe`` the current one for its family and tier. A replacement must raise the
    version, so a cached set is never mistaken for the output of a changed recipe."""
    if recipe.tier not in TIERS:
        raise ValueError(f"holdout tier must be one of {TIERS}, got {recipe.tier!r}")
    current = RECIPES.get((recipe.family, recipe.tier))
    if current is not None and recipe.version <= current.version:
        raise ValueError(
            f"holdout recipe for {recipe.family!r} ({recipe.tier}) is at version "
            f"{current.version}; a replacement needs a higher version, got {recipe.version}"
        )
    RECIPES[(recipe.family, recipe.tier)] = recipe


def env_family(env_id: str) -> tuple[str, str | None]:
    """``(family, variant)`` of an env id, e.g. ``("Overcooked", "CrampedRoom")``."""
    name, _ = parse_id(env_id)
    family, _, variant = name.partition("-")
    return family, variant or None


def recipe_for(env_id: str, tier: str = "standard") -> HoldoutRecipe:
    """The current recipe of ``tier`` for ``env_id``'s family.

    Once any env of the family is registered, ``env_id`` itself must be registered (a typo
    then gets the registry's suggestions rather than a set for an env that does not exist).
    """
    if tier not in TIERS:
        raise HoldoutError(f"unknown holdout tier {tier!r}; accepted: {', '.join(TIERS)}")
    family, _ = env_family(env_id)
    if any(env_family(known)[0] == family for known in registered_ids()):
        spec(env_id)
    if (family, tier) not in RECIPES:
        raise HoldoutError(
            f"no holdout set is defined for {env_id!r}; families with one: "
            f"{', '.join(sorted({f for f, _ in RECIPES}))}"
        )
    return RECIPES[(family, tier)]


def mppmr_conventions(env_id: str, context: BuildContext | None = None) -> list[PartnerSpec]:
    """Every scripted MPPMR convention agent (each landmark x lane) of ``env_id``."""
    from xpm_bench.registry import make

    layout = make(env_id).layout
    return [
        PartnerSpec(
            name=f"landmark{k}-lane{p}",
            group="scripted",
            builder="mppmr-convention",
            # closed form: the same-landmark convention meets it, return 1 (for BR-Prox)
            params={"landmark": k, "lane": p, "best_response_return": 1.0},
        )
        for k in range(layout.n_landmarks)
        for p in range(layout.n_lanes)
    ]


def overcooked_scripted_cooks(
    env_id: str, context: BuildContext | None = None
) -> list[PartnerSpec]:
    """The scripted cooks (onion-only, plating-only, full) for a classic Overcooked layout."""
    from xpm_bench.agents.overcooked_scripted import ROLES

    _, variant = env_family(env_id)
    if variant not in CLASSIC_OVERCOOKED_LAYOUTS:
        raise UnknownEnvError(
            f"no holdout set for {env_id!r}: scripted cooks are defined for the classic "
            f"layouts {', '.join(f'Overcooked-{v}' for v in CLASSIC_OVERCOOKED_LAYOUTS)}"
        )
    return [
        PartnerSpec(
            name=f"{role}-cook",
            group="scripted",
            builder="overcooked-cook",
            params={"role": role, "seed": 0, "patience": 4},
        )
        for role in ROLES
    ]


# ---------------------------------------------- version 2: behaviour-cloned human proxies
def _build_bc_human_proxy(spec: PartnerSpec, env_id: str) -> Policy:
    from xpm_bench.evaluation.human_proxy import build_bc_proxy_policy

    return build_bc_proxy_policy(spec, env_id)


def overcooked_bc_human_proxies(
    env_id: str, context: BuildContext | None = None
) -> list[PartnerSpec]:
    """One behaviour-cloned human proxy for ``env_id``'s classic layout, trained on the 2019
    human data's train split (deterministic, seed 0) with its accuracies in the params."""
    from xpm_bench.evaluation.human_proxy import bc_human_proxies

    return bc_human_proxies(env_id)


register_partner_builder("bc-human-proxy", _build_bc_human_proxy)


# ------------------------------------------------------- self-play holdout populations
SP_HOLDOUT_MEMBERS = {"standard": 3, "smoke": 2}
# The generator preset each holdout tier trains its self-play partners with.
SP_HOLDOUT_PRESET = {"standard": "default", "smoke": "smoke"}


def sp_holdout_seeds(n: int) -> list[int]:
    """Seeds of the self-play holdout partners: ``HOLDOUT_SEED_BASE + k``, a range the
    generators refuse (:func:`~xpm_bench.seeding.check_training_seed`)."""
    from xpm_bench.seeding import HOLDOUT_SEED_BASE

    return [HOLDOUT_SEED_BASE + k for k in range(n)]


def sp_holdout_population(
    env_id: str, context: BuildContext, tier: str = "standard"
) -> list[PartnerSpec]:
    """Self-play partners trained with the ``sp`` generator from the reserved holdout seeds.

    Partner ``k`` is a one-member ``sp`` run from seed ``HOLDOUT_SEED_BASE + k`` with the
    tier's preset (``default``: about 15 minutes each on a 2-core CPU for Overcooked). Each run
    keeps its population file and checkpoint directory under
    ``<cache>/<env_id>/sp-holdout-<preset>/``, so an interrupted build resumes where it stopped
    and a finished partner is never trained twice (also across recipe versions).
    """
    from xpm_bench.population import load_population

    preset = SP_HOLDOUT_PRESET[tier]
    directory = context.cache_dir / env_id / f"sp-holdout-{preset}"
    seeds = sp_holdout_seeds(SP_HOLDOUT_MEMBERS[tier])
    missing = [
        {"env_id": env_id, "k": k, "seed": seed, "preset": preset, "directory": directory}
        for k, seed in enumerate(seeds)
        if not (directory / f"seed{seed}.pt").exists()
    ]
    context.map_fn(functools.partial(_train_sp_partner, progress=context.progress), missing)
    partners = []
    for k, seed in enumerate(seeds):
        member = load_population(directory / f"seed{seed}.pt").members[0]
        partners.append(
            PartnerSpec(
                name=f"sp-holdout-{k}",
                group="sp-population",
                builder="net-policy",
                params={
                    "arch": member.arch,
                    "arch_kwargs": member.arch_kwargs,
                    "seed": int(seed),
                    "generator": "sp",
                    "preset": preset,
                    "train_return": member.info.get("final_return"),
                },
                weights={key: t.clone() for key, t in member.state_dict.items()},
            )
        )
    return partners


def _train_sp_partner(
    env_id: str, k: int, seed: int, preset: str, directory: Path, progress: ProgressFn
) -> None:
    """Train (or resume) self-play holdout partner ``k`` into ``directory/seed<seed>.pt``."""
    from xpm_bench.generators.run import run_generation

    run_dir = directory / f"seed{seed}.run"
    progress(f"holdout: training self-play partner {k} (seed {seed}, {preset})")
    run_generation(
        "sp",
        env_id,
        1,
        seed=seed,
        preset=preset,
        output=directory / f"seed{seed}.pt",
        run_dir=run_dir,
        resume=(run_dir / "checkpoint.pt").exists(),
        progress=_LineProgress(progress, f"sp partner {k}"),
        threads=1,
        holdout_seed=True,
    )


class _LineProgress:
    """A generator progress sink that reports every tenth of the run as one line."""

    def __init__(self, say: ProgressFn, label: str):
        self.say, self.label, self.total, self.next_tenth = say, label, 1, 1

    def start(self, total_steps: int, done_steps: int) -> None:
        self.total = max(1, total_steps)
        self.next_tenth = done_steps * 10 // self.total + 1

    def update(self, done_steps: int, metrics: dict[str, Any]) -> None:
        if done_steps * 10 // self.total >= self.next_tenth:
            self.next_tenth = done_steps * 10 // self.total + 1
            ret = metrics.get("return", float("nan"))
            self.say(f"{self.label}: {done_steps:,}/{self.total:,} env steps, return {ret:.1f}")

    def stop(self) -> None:
        pass


def _build_net_policy(spec: PartnerSpec, env_id: str) -> Policy:
    from xpm_bench.population import Member

    member = Member(spec.name, spec.params["arch"], spec.params["arch_kwargs"], spec.weights)
    return member.policy(seed=int(spec.params.get("seed", 0)))


register_partner_builder("net-policy", _build_net_policy)


# ---------------------------------------------------------------- registrations
# Version history (each kept its own cache file name): MPPMR v1 had no best-response
# returns. Overcooked v1: the scripted cooks; v2: + one BC human proxy (stay undersampled);
# v3: BC proxy on all samples with its last actions as input, + a self-play population from
# reserved seeds.
_MPPMR = HoldoutRecipe(
    family="MPPMR",
    name="mppmr-scripted-conventions",
    version=2,  # v2: partners carry their closed-form best-response return (BR-Prox)
    groups=(mppmr_conventions,),
    description="every scripted convention agent: one per landmark and lane",
)
register_recipe(_MPPMR)
register_recipe(dataclasses.replace(_MPPMR, tier="smoke"))  # nothing to shrink


def _sp_group(tier: str) -> PartnerGroup:
    return functools.partial(sp_holdout_population, tier=tier)


_OVERCOOKED_DESCRIPTION = (
    "scripted cooks (onion-only, plating-only, full); a behaviour-cloned human proxy (trained "
    "on the 2019 human-human train split; test accuracy and baselines in its params); {n} "
    "self-play agents (sp generator, preset {preset}) from reserved seeds"
)
# The humans played under the 2019 rule, but observations and actions are the same under both
# rules, so both Overcooked families get the same groups.
for _family in ("Overcooked", "OvercookedClassic"):
    for _tier, _suffix in (("standard", ""), ("smoke", "-smoke")):
        register_recipe(
            HoldoutRecipe(
                family=_family,
                name=f"overcooked-classic-holdout{_suffix}",
                version=3,
                groups=(overcooked_scripted_cooks, overcooked_bc_human_proxies, _sp_group(_tier)),
                description=_OVERCOOKED_DESCRIPTION.format(
                    n=SP_HOLDOUT_MEMBERS[_tier], preset=SP_HOLDOUT_PRESET[_tier]
                ),
                tier=_tier,
            )
        )


# -------------------------------------------------------------------------- cache
def default_cache_dir() -> Path:
    """``$XPM_BENCH_CACHE/holdout`` if the variable is set, else ``~/.cache/xpm-bench/holdout``."""
    root = os.environ.get(CACHE_ENV_VAR)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "xpm-bench"
    return base / "holdout"


def cache_path(env_id: str, recipe: HoldoutRecipe, cache_dir: str | Path | None = None) -> Path:
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return directory / env_id / f"{recipe.name}-v{recipe.version}.pt"


def build_holdout(
    env_id: str,
    cache_dir: str | Path | None = None,
    rebuild: bool = False,
    tier: str = "standard",
    progress: ProgressFn | None = None,
    map_fn: MapFn = sequential_map,
) -> HoldoutSet:
    """The holdout set of ``env_id`` under the current recipe of ``tier``, from the cache
    when present.

    A missing cache file is built and written atomically (temp file, then rename);
    ``rebuild`` rebuilds and overwrites it (trained partners whose own runs finished are
    reused). A cache file that fails to load or whose stored hash does not match its content
    raises :class:`HoldoutError`. ``map_fn`` runs independent partner trainings (in parallel
    with a parallel map; the set is the same either way).
    """
    recipe = recipe_for(env_id, tier)
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache_path(env_id, recipe, directory)
    if path.exists() and not rebuild:
        return load_holdout(path)
    context = BuildContext(directory, progress or (lambda message: None), map_fn)
    holdout = recipe.build(env_id, context)
    save_holdout(holdout, path)
    return holdout


def save_holdout(holdout: HoldoutSet, path: str | Path) -> Path:
    """Write ``holdout`` to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(holdout.to_dict(), tmp)
    return path


def load_holdout(path: str | Path) -> HoldoutSet:
    """Load a cached holdout set (``weights_only=True``: loading never runs code)."""
    path = Path(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling errors come in many types
        raise HoldoutError(f"cannot load holdout cache {path}: {error}") from None
    return HoldoutSet.from_dict(data, source=str(path))


def cached_holdouts(cache_dir: str | Path | None = None) -> list[tuple[Path, HoldoutSet | str]]:
    """Every ``.pt`` file under the cache with its set, or the error that loading gave."""
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    out: list[tuple[Path, HoldoutSet | str]] = []
    for path in sorted(directory.glob("*/*.pt")):
        try:
            out.append((path, load_holdout(path)))
        except HoldoutError as error:
            out.append((path, str(error)))
    return out


def recipes() -> Sequence[HoldoutRecipe]:
    """The current recipe of every family and tier, by family name."""
    return [RECIPES[key] for key in sorted(RECIPES)]
