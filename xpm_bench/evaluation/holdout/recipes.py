"""Holdout recipes: how the holdout set of every env of a family is built, pinned as data.

A :class:`HoldoutRecipe` is a name, a version, a tier and partner groups. Each
:class:`PartnerGroup` is a function plus the literal parameters it builds from (budgets,
seeds, network sizes, the full training config of trained partners), so everything that makes
a recipe's partners is in the recipe itself and nothing is read from defaults that other code
may change. :meth:`HoldoutRecipe.fingerprint` hashes that content; :data:`PINNED_FINGERPRINTS`
holds the committed fingerprint of every built-in (family, tier, version), and a recipe whose
content no longer matches its pin is refused (change a recipe only together with a new
version and a new pin).

Built-in recipes, each in two tiers (``standard`` for reported results, ``smoke`` with
test-sized budgets for the smoke protocols):

- MPPMR (version 2): every scripted convention agent, one per landmark and lane, with its
  closed-form best-response return (1: the same-landmark convention meets it).
- CMG (version 1): every scripted convention agent (always picks convention k), with its
  closed-form best-response return (``payoffs[k]``).
- Overcooked, both cooking rules, on the five classic layouts (version 4): the scripted cooks
  of :mod:`xpm_bench.agents.overcooked_scripted`, one behaviour-cloned human proxy per layout
  (:mod:`xpm_bench.evaluation.human_proxy`), and self-play partners trained from reserved
  seeds (:mod:`~xpm_bench.evaluation.holdout.sp_partners`).

Version history (each version keeps its own cache file name): MPPMR v1 had no best-response
returns. Overcooked v1: the scripted cooks; v2: + one BC human proxy ('stay' undersampled);
v3: BC proxy on all samples with its last actions as input, + self-play partners; v4: the
standard tier's self-play partners trained with the sp generator's new ``default`` settings
(issue 9: JaxMARL IPPO's batch shape and shaped reward, lr 1e-3; v3's were HiPT's, now the
``hipt`` preset); the smoke tier's stay the ``smoke`` preset.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xpm_bench.envs import OVERCOOKED_LAYOUTS
from xpm_bench.evaluation.holdout.sets import HoldoutError, HoldoutSet, PartnerSpec
from xpm_bench.evaluation.holdout.sp_partners import MapFn, sequential_map, train_sp_partners
from xpm_bench.io import sha256_json
from xpm_bench.registry import env_family, env_variant, registered_ids, spec

ProgressFn = Callable[[str], None]

# ``standard`` sets are the ones results are reported against; ``smoke`` sets keep the same
# partner groups at test-sized budgets (the smoke evaluation protocols use them).
TIERS = ("standard", "smoke")


@dataclass(frozen=True)
class BuildContext:
    """What partner groups may use while building: the cache directory (groups that train
    partners keep their own resumable runs under it), a progress callback and the map that
    runs independent partner trainings (:data:`MapFn`)."""

    cache_dir: Path
    progress: ProgressFn = field(default=lambda message: None)
    map_fn: MapFn = sequential_map


@dataclass(frozen=True)
class PartnerGroup:
    """One group of partners: ``build(env_id, context, **params) -> [PartnerSpec]``.

    ``params`` is plain JSON-ready data and part of the recipe's pinned content.
    """

    name: str
    build: Callable[..., list[PartnerSpec]]
    params: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, env_id: str, context: BuildContext) -> list[PartnerSpec]:
        return self.build(env_id, context, **self.params)


@dataclass(frozen=True)
class HoldoutRecipe:
    """How to build the holdout set of every env in ``family`` (see :func:`env_family`).

    ``groups`` are called in order; their partners form the set. ``tier`` is ``standard`` or
    ``smoke``. ``variants``: the id variants the recipe covers (``None``: every env of the
    family).
    """

    family: str
    name: str
    version: int
    groups: tuple[PartnerGroup, ...]
    description: str = ""
    tier: str = "standard"
    variants: tuple[str, ...] | None = None

    def content(self) -> dict[str, Any]:
        """Everything that makes the recipe's partners, as plain data."""
        return {
            "family": self.family,
            "name": self.name,
            "version": self.version,
            "tier": self.tier,
            "groups": [{"name": g.name, "params": dict(g.params)} for g in self.groups],
        }

    def fingerprint(self) -> str:
        """``sha256:<hex>`` of :meth:`content`: machine-independent, unlike a set's
        content hash (which covers trained weights)."""
        return sha256_json(self.content())

    def build(self, env_id: str, context: BuildContext) -> HoldoutSet:
        partners = tuple(p for group in self.groups for p in group(env_id, context))
        names = [p.name for p in partners]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise HoldoutError(f"holdout {self.name}: duplicated partner names {duplicated}")
        return HoldoutSet(self.name, env_id, self.version, partners, self.description)

    def supported_ids(self) -> list[str]:
        """The registered ids this recipe builds a set for."""
        return [
            i
            for i in registered_ids()
            if env_family(i) == self.family
            and (self.variants is None or env_variant(i) in self.variants)
        ]


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


def recipe_for(
    env_id: str, tier: str = "standard", env_kwargs: Mapping[str, Any] | None = None
) -> HoldoutRecipe:
    """The current recipe of ``tier`` for ``env_id``, checked to cover this env.

    Raises :class:`HoldoutError` naming what exists when no recipe covers ``env_id`` (its
    family has none, its variant is not covered, or ``env_kwargs`` move it away from its
    registered settings, which holdout sets are defined for), and when a recipe's content no
    longer matches its pinned fingerprint. An unregistered id of a registered family gets the
    registry's suggestions.
    """
    if tier not in TIERS:
        raise HoldoutError(f"unknown holdout tier {tier!r}; accepted: {', '.join(TIERS)}")
    family = env_family(env_id)
    if any(env_family(known) == family for known in registered_ids()):
        spec(env_id)
    if (family, tier) not in RECIPES:
        raise HoldoutError(
            f"no holdout set is defined for {env_id!r}; families with one: "
            f"{', '.join(sorted({f for f, _ in RECIPES}))}"
        )
    recipe = RECIPES[(family, tier)]
    supported = recipe.supported_ids()
    if env_id not in supported:
        raise HoldoutError(
            f"no holdout set is defined for {env_id!r}: the {family} holdout sets cover "
            f"{', '.join(supported)}"
        )
    changed = _changed_kwargs(env_id, env_kwargs or {})
    if changed:
        raise HoldoutError(
            f"no holdout set is defined for {env_id!r} with {changed}: holdout sets are built "
            f"for the registered settings {spec(env_id).kwargs or '(no keyword arguments)'}"
        )
    check_pinned(recipe)
    return recipe


def _changed_kwargs(env_id: str, env_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    defaults = spec(env_id).kwargs
    return {k: v for k, v in env_kwargs.items() if k not in defaults or defaults[k] != v}


def check_pinned(recipe: HoldoutRecipe) -> None:
    """Refuse a built-in recipe whose content differs from its pinned fingerprint."""
    pinned = PINNED_FINGERPRINTS.get((recipe.family, recipe.tier, recipe.version))
    if pinned is not None and pinned != recipe.fingerprint():
        raise HoldoutError(
            f"holdout recipe {recipe.name!r} v{recipe.version} ({recipe.family}, {recipe.tier}) "
            f"has content {recipe.fingerprint()} but version {recipe.version} is pinned to "
            f"{pinned}: a change to a recipe needs a new version (and a new pin)"
        )


def all_recipes() -> Sequence[HoldoutRecipe]:
    """The current recipe of every family and tier, by family name."""
    return [RECIPES[key] for key in sorted(RECIPES)]


# ------------------------------------------------------------------ partner groups
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


def cmg_conventions(env_id: str, context: BuildContext | None = None) -> list[PartnerSpec]:
    """Every scripted CMG convention agent (always picks convention ``k``) of ``env_id``."""
    from xpm_bench.registry import make

    env = make(env_id)
    return [
        PartnerSpec(
            name=f"convention{k}",
            group="scripted",
            builder="cmg-convention",
            # closed form: the agent that picks k too meets it, return payoffs[k] (BR-Prox)
            params={"convention": k, "best_response_return": float(payoff)},
        )
        for k, payoff in enumerate(env.payoffs)
    ]


def overcooked_scripted_cooks(
    env_id: str,
    context: BuildContext | None = None,
    roles: Sequence[str] = ("onion", "plate", "full"),
    seed: int = 0,
    patience: int = 4,
) -> list[PartnerSpec]:
    """The scripted cooks (onion-only, plating-only, full) of a classic Overcooked layout."""
    return [
        PartnerSpec(
            name=f"{role}-cook",
            group="scripted",
            builder="overcooked-cook",
            params={"role": role, "seed": int(seed), "patience": int(patience)},
        )
        for role in roles
    ]


@functools.cache
def trained_human_proxy(layout: str, **settings: Any) -> Any:
    """:func:`~xpm_bench.evaluation.human_proxy.train_human_proxy`, once per layout and
    settings in a process (the CLI and the tests build several sets per run)."""
    from xpm_bench.evaluation.human_proxy import train_human_proxy

    return train_human_proxy(layout, **settings)


def overcooked_bc_human_proxies(
    env_id: str, context: BuildContext | None = None, seed: int = 0, epochs: int = 8, **net: Any
) -> list[PartnerSpec]:
    """One behaviour-cloned human proxy for ``env_id``'s classic layout, trained on the 2019
    human data's train split (deterministic given ``seed``) with its accuracies in the params.
    ``net``: ``history``, ``hidden``, ``layers``, ``batch_size``, ``lr`` of the BC training."""
    layout = OVERCOOKED_LAYOUTS[env_variant(env_id)]
    proxy = trained_human_proxy(layout, seed=int(seed), epochs=int(epochs), **net)
    params = {
        "net_kwargs": proxy.net_kwargs,
        "seed": int(seed),
        "layout": proxy.layout,
        "data": "overcooked-ai 2019 human-human trials (clean_train_trials / clean_test_trials)",
        "train_seed": int(seed),
        "epochs": int(epochs),
        **proxy.metrics,
    }
    weights = {k: v.clone() for k, v in proxy.state_dict.items()}
    return [PartnerSpec("bc-human-proxy", "bc-human-proxy", "bc-human-proxy", params, weights)]


def sp_partners(
    env_id: str, context: BuildContext, members: int, label: str, config: Mapping[str, Any]
) -> list[PartnerSpec]:
    """``members`` self-play partners trained with the literal ``sp`` ``config``; see
    :func:`~xpm_bench.evaluation.holdout.sp_partners.train_sp_partners`."""
    directory = context.cache_dir / env_id / f"sp-holdout-{label}"
    return train_sp_partners(
        env_id, directory, members, config, label, context.progress, context.map_fn
    )


# --------------------------------------------------------------- pinned settings
# The BC human proxy's training (recipe v3).
_BC_PROXY = {
    "seed": 0,
    "epochs": 8,
    "history": 4,
    "hidden": 128,
    "layers": 2,
    "batch_size": 256,
    "lr": 1e-3,
}
# The self-play holdout partners' full sp config (recipe v4), copied from the sp generator's
# presets of that time ("default" for the standard tier, "smoke" for the smoke tier).
_SP_PPO = {
    "lr": 1e-3,
    "anneal_lr": True,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "clip": 0.2,
    "clip_value": True,
    "ent_coef": 0.01,
    "vf_coef": 0.5,
    "max_grad_norm": 0.5,
    "epochs": 4,
    "minibatches": 4,
    "norm_adv": True,
}
_SP_STANDARD = {
    "env_steps": 3_000_000,
    "num_envs": 16,
    "rollout_steps": 128,
    "arch": "mlp",
    "hidden": 64,
    "layers": 2,
    "channels": 25,
    "gru": 0,
    "reward_set": "shaped",
    "shaping_anneal_steps": 2_500_000,
    "event_shaping": (),
    "ppo": _SP_PPO,
}
# The smoke tier stays the sp generator's "smoke" preset (unchanged by issue 9: HiPT-style
# settings at test size), so a smoke-tier partner is exactly `generate --preset smoke`.
_SP_SMOKE = {
    "env_steps": 8_000,
    "num_envs": 8,
    "rollout_steps": 100,
    "arch": "auto",
    "hidden": 64,
    "layers": 2,
    "channels": 25,
    "gru": 0,
    "reward_set": "sparse",
    "shaping_anneal_steps": 2_500_000,
    "event_shaping": (("potting_onion", 3.0), ("potting_tomato", 3.0)),
    "ppo": {
        **_SP_PPO,
        "gae_lambda": 0.98,
        "clip": 0.05,
        "epochs": 2,
        "minibatches": 2,
    },
}
_SP_HOLDOUT = {
    "standard": {"members": 3, "label": "default", "config": _SP_STANDARD},
    "smoke": {"members": 2, "label": "smoke", "config": _SP_SMOKE},
}

# Committed fingerprints of the built-in recipes' content, per (family, tier, version).
PINNED_FINGERPRINTS: dict[tuple[str, str, int], str] = {
    (
        "MPPMR",
        "standard",
        2,
    ): "sha256:9ba1efaaed48efa633527e18e069b0f8e2eeca97b95fbba3d04304079f660fb7",
    (
        "MPPMR",
        "smoke",
        2,
    ): "sha256:77c9c05efa024ab09ec0cf08bfde8f64ebfcd5cdc3e36bee949658353bb793dc",
    (
        "CMG",
        "standard",
        1,
    ): "sha256:a7215090ccc7c9b018ecf78daadb07636166c53da79f6dc2de329d381ec076a6",
    ("CMG", "smoke", 1): "sha256:94da87139e36ac80804b779573242c866ba8d7ef7d94f030fcb555df8d99e440",
    (
        "Overcooked",
        "standard",
        3,
    ): "sha256:6d7dc690457779b2ad3512b47d1b9ba759d0c7021cf3030ebc6d7de8b98ffdd1",
    (
        "Overcooked",
        "smoke",
        3,
    ): "sha256:f7384977eba7125a9f4f1cb9f524460cbd1462a92e16946f43c45701e3f95141",
    (
        "Overcooked",
        "standard",
        4,
    ): "sha256:dbd01eb98c1bf025c7858cbcf7a682581588d1389ee633c7ac9f2429924539fb",
    (
        "Overcooked",
        "smoke",
        4,
    ): "sha256:98bce3d2b683fc23b102611cc6933d010b9062b94edc64c063fa1c7bfc8aec57",
}


# ----------------------------------------------------------------- registrations
_MPPMR = HoldoutRecipe(
    family="MPPMR",
    name="mppmr-scripted-conventions",
    version=2,  # v2: partners carry their closed-form best-response return (BR-Prox)
    groups=(PartnerGroup("scripted-conventions", mppmr_conventions),),
    description="every scripted convention agent: one per landmark and lane",
)
register_recipe(_MPPMR)
register_recipe(dataclasses.replace(_MPPMR, tier="smoke"))  # nothing to shrink

# Every CMG id (the payoffs differ by id, the partners' params carry them).
_CMG = HoldoutRecipe(
    family="CMG",
    name="cmg-scripted-conventions",
    version=1,
    groups=(PartnerGroup("scripted-conventions", cmg_conventions),),
    description="every scripted convention agent: one per convention",
)
register_recipe(_CMG)
register_recipe(dataclasses.replace(_CMG, tier="smoke"))  # nothing to shrink

# The humans played under the 2019 rule, but observations and actions are the same under both
# rules, so one recipe serves both cooking rules (one family).
for _tier, _suffix in (("standard", ""), ("smoke", "-smoke")):
    _sp = _SP_HOLDOUT[_tier]
    register_recipe(
        HoldoutRecipe(
            family="Overcooked",
            name=f"overcooked-classic-holdout{_suffix}",
            version=4,
            groups=(
                PartnerGroup(
                    "scripted-cooks",
                    overcooked_scripted_cooks,
                    {"roles": ["onion", "plate", "full"], "seed": 0, "patience": 4},
                ),
                PartnerGroup("bc-human-proxy", overcooked_bc_human_proxies, _BC_PROXY),
                PartnerGroup("sp-population", sp_partners, _sp),
            ),
            description=(
                "scripted cooks (onion-only, plating-only, full); a behaviour-cloned human "
                "proxy (trained on the 2019 human-human train split; test accuracy and "
                f"baselines in its params); {_sp['members']} self-play agents (sp generator, "
                f"the {_sp['label']} preset's config as of v4) from reserved seeds"
            ),
            tier=_tier,
            variants=tuple(OVERCOOKED_LAYOUTS),
        )
    )
