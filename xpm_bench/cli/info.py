"""``xpm-bench info``: a readable summary of a population file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from xpm_bench.cli.common import console
from xpm_bench.population import Population, load_population


def _param_count(state_dict: dict[str, Any]) -> int:
    return sum(int(t.numel()) for t in state_dict.values())


def summary(pop: Population) -> dict[str, Any]:
    """The facts ``info`` prints, as a plain dict."""
    return {
        "env_id": pop.env_id,
        "method": pop.method,
        "members": len(pop),
        "format_version": pop.format_version,
        "library_version": pop.library_version,
        "seeds": pop.seeds,
        "ledger": pop.ledger,
        "config": pop.config,
    }


def info(
    path: Annotated[Path, typer.Argument(help="A population file (pop.pt)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary instead")] = False,
) -> None:
    """Summarise a population file: env, method, ledger, config and members."""
    pop = load_population(path)
    if as_json:
        data = summary(pop)
        data["member_list"] = [
            {"name": m.name, "arch": m.arch, "params": _param_count(m.state_dict), "seed": m.seed}
            for m in pop.members
        ]
        console.print_json(json.dumps(data, default=str))
        return
    console.print(f"[bold]{path}[/bold]: population of {len(pop)} for [bold]{pop.env_id}[/bold]")
    console.print(
        f"method: {pop.method}   format v{pop.format_version}   "
        f"written by xpm-bench {pop.library_version}   seeds: {pop.seeds.get('seed', '?')}"
    )
    ledger = pop.ledger
    if ledger:
        kinds = ", ".join(f"{k} {v:,}" for k, v in ledger["env_steps_by_kind"].items())
        console.print(
            f"ledger: {ledger['env_steps']:,} env steps ({kinds}); "
            f"{ledger['imagined_steps']:,} imagined; {ledger['wall_clock_s']:.1f}s wall clock"
        )
    else:
        console.print("ledger: none recorded")
    table = Table(title="members")
    for column in ("#", "name", "arch", "parameters", "seed", "info"):
        table.add_column(column)
    for i, m in enumerate(pop.members):
        extras = ", ".join(f"{k}={_short(v)}" for k, v in m.info.items())
        table.add_row(
            str(i), m.name, m.arch, f"{_param_count(m.state_dict):,}", str(m.seed), extras
        )
    console.print(table)
    console.print("config: " + json.dumps(pop.config, default=str), highlight=False, soft_wrap=True)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
