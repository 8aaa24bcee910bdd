"""Holdout partner sets: versioned, content-hashed, cached on disk.

A holdout set is the list of partners an ego agent is scored against after training. It must
be identical for everyone who reports a number, so it is

- **defined by a recipe** per environment family and tier (:mod:`.recipes`): a name, a
  version and partner groups whose parameters (budgets, seeds, full training configs) are
  literal data in the recipe, with a committed fingerprint per version. Changing what a
  recipe builds means registering it again with a higher version; old versions keep their
  cache files.
- **content-hashed** (:mod:`.sets`): :attr:`HoldoutSet.content_hash` is a SHA-256 over a
  canonical JSON of everything that defines the partners (env id, set name and version, and
  for each partner its name, group, builder, parameters and, for trained partners, the dtype,
  shape and bytes of every weight tensor). Trained weights depend on the float rounding of
  the machine that trained them, so results record both the content hash and the recipe's
  machine-independent fingerprint (:data:`HASH_COMPARISON` says how to compare them).
- **rebuilt by registered builders** (:mod:`.builders`), one per partner kind.
- **cached** (:mod:`.cache`): :func:`build_holdout` writes
  ``<cache>/<env_id>/<name>-v<version>.pt`` once (under a file lock) and later loads it with
  ``torch.load(weights_only=True)``.

Self-play partners are trained by :func:`~.sp_partners.train_sp_partners`, the one loop that
trains holdout partners.
"""

from xpm_bench.evaluation.holdout.builders import (
    PARTNER_BUILDERS,
    build_partner,
    register_partner_builder,
)
from xpm_bench.evaluation.holdout.cache import (
    CACHE_ENV_VAR,
    build_holdout,
    cache_path,
    cached_holdouts,
    default_cache_dir,
    load_holdout,
    save_holdout,
)
from xpm_bench.evaluation.holdout.recipes import (
    PINNED_FINGERPRINTS,
    RECIPES,
    TIERS,
    BuildContext,
    HoldoutRecipe,
    PartnerGroup,
    all_recipes,
    check_pinned,
    mppmr_conventions,
    overcooked_bc_human_proxies,
    overcooked_scripted_cooks,
    recipe_for,
    register_recipe,
    sp_partners,
    trained_human_proxy,
)
from xpm_bench.evaluation.holdout.sets import (
    HASH_COMPARISON,
    HOLDOUT_FORMAT_VERSION,
    HoldoutError,
    HoldoutSet,
    PartnerSpec,
)
from xpm_bench.evaluation.holdout.sp_partners import (
    MapFn,
    sequential_map,
    sp_holdout_seeds,
    train_sp_partners,
)

__all__ = [
    "CACHE_ENV_VAR",
    "HASH_COMPARISON",
    "HOLDOUT_FORMAT_VERSION",
    "PARTNER_BUILDERS",
    "PINNED_FINGERPRINTS",
    "RECIPES",
    "TIERS",
    "BuildContext",
    "HoldoutError",
    "HoldoutRecipe",
    "HoldoutSet",
    "PartnerGroup",
    "PartnerSpec",
    "all_recipes",
    "build_holdout",
    "build_partner",
    "cache_path",
    "cached_holdouts",
    "check_pinned",
    "default_cache_dir",
    "load_holdout",
    "mppmr_conventions",
    "overcooked_bc_human_proxies",
    "overcooked_scripted_cooks",
    "recipe_for",
    "register_partner_builder",
    "register_recipe",
    "save_holdout",
    "sp_holdout_seeds",
    "sp_partners",
    "train_sp_partners",
    "MapFn",
    "sequential_map",
    "trained_human_proxy",
]
