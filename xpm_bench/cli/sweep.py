"""``xpm-bench sweep``: run a grid of generate+evaluate jobs, show its state, report it."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from xpm_bench.cli.common import console, err_console
from xpm_bench.errors import ConfigError

app = typer.Typer(
    help="Sweeps: methods x envs x population sizes x seeds, each job generate then evaluate.",
    no_args_is_help=True,
)

EXECUTORS = ("local", "ray")


@app.command("run")
def run(
    spec: Annotated[Path, typer.Argument(help="Sweep spec (YAML)")],
    out: Annotated[
        Path | None, typer.Option(help="Sweep folder (default: runs/<spec name>)")
    ] = None,
    executor: Annotated[
        str, typer.Option(help="local: one job after another here; ray: Ray tasks")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(help="Ray cluster to join: auto or HOST:PORT (default: start a local one)"),
    ] = None,
    num_cpus: Annotated[
        int | None, typer.Option(help="CPUs of the local Ray cluster (default: all)")
    ] = None,
    retries: Annotated[
        int, typer.Option(help="Retries of a failing job before it is recorded")
    ] = 2,
    checkpoint_interval: Annotated[
        float, typer.Option(help="Seconds between a job's generation checkpoints")
    ] = 60.0,
    holdout_cache: Annotated[
        Path | None,
        typer.Option(help="Holdout cache (default: $XPM_BENCH_CACHE/holdout or ~/.cache/...)"),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress display")] = False,
) -> None:
    """Run every unfinished job of SPEC; rerun the same command to resume after a crash."""
    from xpm_bench.sweep.progress import SweepProgress
    from xpm_bench.sweep.run import run_sweep
    from xpm_bench.sweep.spec import parse_spec, read_spec_text

    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; accepted: {', '.join(EXECUTORS)}")
    if executor == "local" and (address is not None or num_cpus is not None):
        raise ConfigError("--address and --num-cpus are for --executor ray")
    text = read_spec_text(spec)
    sweep = parse_spec(text, source=str(spec))
    runner = _executor(executor, address, num_cpus)
    out_dir = out if out is not None else Path("runs") / sweep.name
    display = None if quiet else SweepProgress(err_console)
    # SIGTERM (a scheduler or `kill`) stops like Ctrl-C: jobs cancelled, run recorded. A
    # command started with `&` from a script ignores SIGINT, so SIGTERM is its way to stop.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    outcome = run_sweep(
        sweep,
        out_dir,
        runner,
        retries=retries,
        checkpoint_interval_s=checkpoint_interval,
        holdout_cache=holdout_cache,
        display=display,
        spec_text=text,
    )
    console.print(
        f"{len(outcome.done)} jobs finished, {len(outcome.skipped)} already done, "
        f"{len(outcome.failed)} failed, in {outcome.wall_s:.0f} s; sweep folder {out_dir}",
        highlight=False,
    )
    if outcome.failed:
        for job_id, error in outcome.failed.items():
            err_console.print(f"[red]failed[/red] {job_id}: {error}", highlight=False)
        err_console.print(f"see `xpm-bench sweep status {out_dir}`; rerun to retry them")
        raise typer.Exit(1)
    console.print(f"next: xpm-bench sweep report {out_dir}", highlight=False)


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _executor(name: str, address: str | None, num_cpus: int | None):
    from xpm_bench.sweep.executors import LocalExecutor, RayExecutor

    if name == "ray":
        return RayExecutor(address=address, num_cpus=num_cpus)
    return LocalExecutor()


@app.command("status")
def status(out: Annotated[Path, typer.Argument(help="Sweep folder")]) -> None:
    """A table of the sweep's jobs and their states."""
    from xpm_bench.sweep.report import job_status

    rows = job_status(out)
    table = Table(title=f"sweep {out}")
    for column in ("job", "status", "attempts", "wall s", "error"):
        table.add_column(column, overflow="fold")
    colours = {"done": "green", "failed": "red", "running": "cyan", "interrupted": "yellow"}
    for row in rows:
        colour = colours.get(row["status"], "white")
        wall = f"{row['wall_s']:.0f}" if row["wall_s"] is not None else "-"
        table.add_row(
            row["job"], f"[{colour}]{row['status']}[/{colour}]", str(row["attempts"]), wall,
            row["error"] or "",
        )  # fmt: skip
    console.print(table)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    console.print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())), highlight=False)


@app.command("report")
def report(
    out: Annotated[Path, typer.Argument(help="Sweep folder")],
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples per interval")] = 2000,
    alpha: Annotated[float, typer.Option(help="1 - confidence level of the intervals")] = 0.05,
    seed: Annotated[int, typer.Option(help="Bootstrap seed")] = 0,
) -> None:
    """Write results.jsonl, summary.md and plots into the sweep folder."""
    from xpm_bench.sweep.report import write_report

    if n_boot < 1:
        raise ConfigError(f"--n-boot must be >= 1, got {n_boot}")
    if not 0 < alpha < 1:
        raise ConfigError(f"--alpha must be in (0, 1), got {alpha}")
    for path in write_report(out, n_boot=n_boot, seed=seed, alpha=alpha):
        console.print(f"wrote {path}", highlight=False)
