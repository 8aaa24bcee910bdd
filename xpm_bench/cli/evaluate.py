"""``xpm-bench evaluate`` and ``xpm-bench render``: score or watch a population file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xpm_bench.cli.common import console, err_console, say
from xpm_bench.errors import ConfigError


def evaluate(
    population: Annotated[Path, typer.Argument(help="A population file (pop.pt)")],
    protocol: Annotated[
        str, typer.Option(help="Evaluation protocol: smoke or default")
    ] = "default",
    out: Annotated[Path | None, typer.Option(help="Write the JSON result here")] = None,
    plots: Annotated[Path | None, typer.Option(help="Write PNG figures into this folder")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N")] = "cpu",
    threads: Annotated[
        int, typer.Option(help="torch CPU threads (fixed, so results are reproducible)")
    ] = 1,
    skip_holdout: Annotated[
        bool,
        typer.Option(
            help="Score only what needs no holdout set (no ego); the result lists what was "
            "skipped. For envs without a holdout recipe, e.g. custom layouts"
        ),
    ] = False,
) -> None:
    """Score a population: cross-play matrix, diversity metrics, sample cost, ego vs holdouts."""
    from xpm_bench.evaluation.evaluate import evaluate_file
    from xpm_bench.evaluation.report import print_report, write_plots
    from xpm_bench.io import write_json

    result = evaluate_file(
        population,
        protocol=protocol,
        device=device,
        progress=say,
        skip_holdout=skip_holdout,
        threads=threads,
    )
    if out is not None:
        write_json(out, result)
    print_report(result, console)
    if plots is not None:
        for path in write_plots(result, plots):
            err_console.print(f"wrote {path}")
    if out is not None:
        err_console.print(f"wrote {out}")


def render(
    population: Annotated[Path, typer.Argument(help="A population file (pop.pt)")],
    pair: Annotated[tuple[int, int], typer.Option(help="Member indices for seat 0 and seat 1")] = (
        0,
        0,
    ),
    gif: Annotated[Path, typer.Option(help="Output GIF path")] = Path("episode.gif"),
    seed: Annotated[int, typer.Option(help="Episode seed")] = 0,
    fps: Annotated[int, typer.Option(help="Frames per second")] = 6,
) -> None:
    """Play one episode of two members and save it as a GIF."""
    from xpm_bench.evaluation.render import episode_frames, save_gif
    from xpm_bench.population import load_population

    pop = load_population(population)
    for index in pair:
        if not 0 <= index < len(pop.members):
            raise ConfigError(
                f"member index {index} out of range: the population has {len(pop.members)} members (0..{len(pop.members) - 1})"
            )
    policies = pop.policies()
    frames, total = episode_frames(
        pop.env_id, policies[pair[0]], policies[pair[1]], seed=seed, env_kwargs=pop.env_kwargs
    )
    save_gif(frames, gif, fps=fps)
    console.print(
        f"{pop.members[pair[0]].name} + {pop.members[pair[1]].name}: return {total:g} in {len(frames) - 1} steps -> {gif}"
    )
