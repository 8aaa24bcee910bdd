"""Present an evaluation result: a rich table in the terminal and PNG figures.

The result itself is a plain JSON-ready dict built by :mod:`xpm_bench.evaluation.evaluate`;
this module only reads it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from xpm_bench.io import atomic_path


def _fmt(value: Any) -> str:
    if isinstance(value, dict) and "value" in value:
        ci = value.get("ci")
        text = _fmt(value["value"])
        if ci and None not in ci:
            return f"{text} [{ci[0]:.3g}, {ci[1]:.3g}]"
        return text
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "-"
    return str(value)


def print_report(result: dict[str, Any], console: Console | None = None) -> None:
    """Summary tables: population, metrics (with bootstrap CIs), sample cost, ego results."""
    console = console or Console()
    pop = result["population"]
    holdout = result.get("holdout")
    against = f"holdout {holdout['name']} {holdout['hash'][:12]}" if holdout else "no holdout"
    console.print(
        f"[bold]{pop.get('method', '?')}[/bold] population of {pop['pop_size']} on "
        f"[bold]{result['env_id']}[/bold]  (protocol {result['protocol']['name']} "
        f"v{result['protocol']['version']}, {against})"
    )
    console.print(_xp_table(result))
    metrics = Table(title="metrics (95% bootstrap CI)")
    metrics.add_column("metric")
    metrics.add_column("value")
    for name, value in result["metrics"].items():
        metrics.add_row(name, _fmt(value))
    console.print(metrics)
    cost = Table(title="sample cost (from the population's ledger)")
    cost.add_column("field")
    cost.add_column("value")
    for name, value in (result.get("sample_cost") or {}).items():
        shown = f"{value:,}" if isinstance(value, int) else _fmt(value)
        cost.add_row(name, shown)
    console.print(cost)
    for warning in result.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {warning}")
    for part in result.get("skipped", []):
        console.print(f"[yellow]skipped:[/yellow] {part['part']}: {part['reason']}")
    if result.get("ego"):
        console.print(_ego_table(result["ego"]))


def _xp_table(result: dict[str, Any]) -> Table:
    matrix = result["xp_matrix"]
    names = result["population"]["member_names"]
    table = Table(title="cross-play: mean team return (row member in seat 0, column in seat 1)")
    table.add_column("")
    for name in names:
        table.add_column(name, justify="right")
    for name, row in zip(names, matrix, strict=True):
        table.add_row(name, *(f"{v:.3g}" for v in row))
    return table


def _ego_table(ego: dict[str, Any]) -> Table:
    table = Table(
        title=f"ego vs holdout partners (trained {ego['train_env_steps']:,} env steps; "
        f"mean {ego['mean_return']:.3g})"
    )
    for column in ("partner", "ego seat 0", "ego seat 1", "mean", "BR-Prox"):
        table.add_column(column, justify="right")
    for name, row in ego["per_partner"].items():
        table.add_row(
            name,
            _fmt(row["seat0"]),
            _fmt(row["seat1"]),
            _fmt(row["mean"]),
            _fmt(row.get("br_prox")),
        )
    return table


def write_plots(result: dict[str, Any], out_dir: str | os.PathLike) -> list[Path]:
    """Write the XP heatmap, per-holdout bars and event profiles as PNGs; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [_xp_heatmap(result, out / "xp_matrix.png")]
    if result.get("ego"):
        written.append(_holdout_bars(result, out / "holdout_returns.png"))
    if result.get("event_profiles"):
        written.append(_event_profiles(result, out / "event_profiles.png"))
    return written


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _xp_heatmap(result: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    matrix = np.asarray(result["xp_matrix"], dtype=float)
    names = result["population"]["member_names"]
    m = len(names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * m, 0.8 + 0.6 * m))
    image = ax.imshow(matrix, cmap="viridis")
    ax.set_xticks(range(m), names, rotation=60, ha="right")
    ax.set_yticks(range(m), names)
    ax.set_xlabel("seat 1")
    ax.set_ylabel("seat 0")
    if m <= 12:
        for i in range(m):
            for j in range(m):
                colour = "white" if matrix[i, j] < matrix.max() / 2 else "black"
                ax.text(
                    j, i, f"{matrix[i, j]:.2g}", ha="center", va="center", color=colour, fontsize=7
                )
    fig.colorbar(image, ax=ax, label="mean team return")
    ax.set_title(f"cross-play, {result['env_id']}")
    return _save(fig, path)


def _holdout_bars(result: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    per_partner = result["ego"]["per_partner"]
    names = list(per_partner)
    seat0 = [per_partner[n]["seat0"]["value"] for n in names]
    seat1 = [per_partner[n]["seat1"]["value"] for n in names]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(1.5 + 0.5 * len(names), 3.5))
    ax.bar(x - 0.2, seat0, 0.4, label="ego in seat 0")
    ax.bar(x + 0.2, seat1, 0.4, label="ego in seat 1")
    ax.set_xticks(x, names, rotation=60, ha="right")
    ax.set_ylabel("mean team return")
    ax.set_title("ego vs holdout partners")
    ax.legend()
    return _save(fig, path)


def _event_profiles(result: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    profiles = result["event_profiles"]
    matrix = np.asarray(profiles["counts"], dtype=float)  # [M, E] mean per SP episode
    scale = matrix.max(axis=0, keepdims=True)
    normalised = np.divide(matrix, scale, out=np.zeros_like(matrix), where=scale > 0)
    names = result["population"]["member_names"]
    events = profiles["event_names"]
    fig, ax = plt.subplots(figsize=(1.5 + 0.3 * len(events), 1.0 + 0.4 * len(names)))
    ax.imshow(normalised, cmap="magma", aspect="auto", vmin=0, vmax=1)
    ax.set_xticks(range(len(events)), events, rotation=75, ha="right", fontsize=7)
    ax.set_yticks(range(len(names)), names)
    ax.set_title("self-play event profiles (per event, scaled to the max member)")
    return _save(fig, path)
