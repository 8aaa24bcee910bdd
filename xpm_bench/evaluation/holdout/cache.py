"""The holdout cache: one file per (env id, recipe name, version), built once, loaded safely.

Cache directory: ``$XPM_BENCH_CACHE/holdout`` when the ``XPM_BENCH_CACHE`` environment variable
is set, else ``~/.cache/xpm-bench/holdout``. A set lives in
``<cache>/<env_id>/<name>-v<version>.pt`` (plain tensors, numbers and strings, read with
``torch.load(weights_only=True)``, so loading never runs code; the stored hash is checked
against the recomputed one). Building takes a file lock beside that file, so processes that
need the same set at once build it once and the others wait and load it.
"""

from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock

from xpm_bench.evaluation.holdout.recipes import BuildContext, HoldoutRecipe, ProgressFn, recipe_for
from xpm_bench.evaluation.holdout.sets import HoldoutError, HoldoutSet
from xpm_bench.evaluation.holdout.sp_partners import MapFn, sequential_map
from xpm_bench.io import atomic_torch_save, safe_torch_load

CACHE_ENV_VAR = "XPM_BENCH_CACHE"


def default_cache_dir() -> Path:
    """``$XPM_BENCH_CACHE/holdout`` if the variable is set, else ``~/.cache/xpm-bench/holdout``."""
    root = os.environ.get(CACHE_ENV_VAR)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "xpm-bench"
    return base / "holdout"


def cache_path(env_id: str, recipe: HoldoutRecipe, cache_dir: str | Path | None = None) -> Path:
    """Where the set of ``env_id`` under ``recipe`` is cached."""
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

    A missing cache file is built and written atomically (temp file, then rename), under a
    file lock; ``rebuild`` rebuilds and overwrites it (trained partners whose own runs
    finished are reused). A cache file that fails to load or whose stored hash does not match
    its content raises :class:`HoldoutError`. ``map_fn`` runs independent partner trainings
    (in parallel with a parallel map; the set is the same either way).
    """
    recipe = recipe_for(env_id, tier)
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache_path(env_id, recipe, directory)
    if path.exists() and not rebuild:
        return load_holdout(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.exists() and not rebuild:  # another process built it while we waited
            return load_holdout(path)
        context = BuildContext(directory, progress or (lambda message: None), map_fn)
        holdout = recipe.build(env_id, context)
        save_holdout(holdout, path)
    return holdout


def save_holdout(holdout: HoldoutSet, path: str | Path) -> Path:
    """Write ``holdout`` to ``path`` atomically."""
    path = Path(path)
    atomic_torch_save(holdout.to_dict(), path)
    return path


def load_holdout(path: str | Path) -> HoldoutSet:
    """Load a cached holdout set (``weights_only=True``: loading never runs code)."""
    data = safe_torch_load(path, what="holdout cache", error=HoldoutError)
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
