"""``xpm-bench holdout``: build, cache and list the holdout partner sets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from xpm_bench.cli.common import console, say
from xpm_bench.errors import ConfigError
from xpm_bench.evaluation.holdout import (
    all_recipes,
    build_holdout,
    cache_path,
    cached_holdouts,
    default_cache_dir,
    recipe_for,
    sequential_map,
)

app = typer.Typer(help="Build and list the holdout partner sets.", no_args_is_help=True)

CacheDir = Annotated[
    Path | None,
    typer.Option(
        help="Cache directory (default: $XPM_BENCH_CACHE/holdout or ~/.cache/xpm-bench/holdout)"
    ),
]


@app.command("build")
def build(
    env_id: Annotated[str, typer.Argument(help="A versioned env id, e.g. MPPMR-v0")],
    cache_dir: CacheDir = None,
    rebuild: Annotated[bool, typer.Option(help="Rebuild even if a cached set exists")] = False,
    tier: Annotated[
        str, typer.Option(help="standard (reported results) or smoke (test-sized budgets)")
    ] = "standard",
    workers: Annotated[
        int,
        typer.Option(
            help="Train the self-play partners as this many parallel Ray tasks (one CPU "
            'each; needs pip install "xpm-bench[ray]"); 1 trains them one after another'
        ),
    ] = 1,
) -> None:
    """Build (or load from the cache) the holdout set of ENV_ID and print its content hash.

    Trained partners (Overcooked's self-play holdout agents, about 15 minutes each on a CPU)
    keep resumable runs in the cache: an interrupted build continues where it stopped. The
    set is the same whatever ``--workers``.
    """
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    recipe = recipe_for(env_id, tier)
    path = cache_path(env_id, recipe, cache_dir)
    cached = path.exists() and not rebuild
    map_fn = sequential_map
    if workers > 1 and not cached:
        from xpm_bench.sweep.executors import init_ray, ray_map

        init_ray(num_cpus=workers, log_to_driver=True)  # partners' progress lines show here
        map_fn = ray_map
    holdout = build_holdout(
        env_id, cache_dir=cache_dir, rebuild=rebuild, tier=tier, progress=say, map_fn=map_fn
    )
    console.print(f"[bold]{holdout.name}[/bold] v{holdout.version} for {holdout.env_id}")
    console.print(f"content hash: {holdout.content_hash}", highlight=False, soft_wrap=True)
    console.print(
        f"{'loaded from' if cached else 'written to'}: {path}", highlight=False, soft_wrap=True
    )
    table = Table(title=f"{len(holdout.partners)} partners")
    for column in ("name", "group", "builder", "params"):
        table.add_column(column)
    for partner in holdout.partners:
        table.add_row(partner.name, partner.group, partner.builder, str(partner.params))
    console.print(table)


@app.command("list")
def list_sets(cache_dir: CacheDir = None) -> None:
    """The holdout recipe of every env family, and the sets already in the cache."""
    table = Table(title="holdout recipes")
    for column in ("family", "tier", "name", "version", "description"):
        table.add_column(column)
    for recipe in all_recipes():
        table.add_row(
            recipe.family, recipe.tier, recipe.name, str(recipe.version), recipe.description
        )
    console.print(table)
    directory = cache_dir if cache_dir is not None else default_cache_dir()
    found = cached_holdouts(directory)
    if not found:
        console.print(f"no cached holdout sets in {directory}", highlight=False)
        return
    cached = Table(title=f"cached in {directory}")
    for column in ("env", "name", "version", "partners", "content hash"):
        cached.add_column(column)
    for path, holdout in found:
        if isinstance(holdout, str):
            cached.add_row(path.parent.name, path.name, "-", "-", f"unreadable: {holdout}")
        else:
            cached.add_row(
                holdout.env_id,
                holdout.name,
                str(holdout.version),
                str(len(holdout.partners)),
                holdout.content_hash,
            )
    console.print(cached)
