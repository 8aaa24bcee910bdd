"""``xpm-bench generate``: train a population with a registered method and write ``pop.pt``."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from xpm_bench.cli.common import console, err_console
from xpm_bench.generators import generator_names
from xpm_bench.generators.run import run_generation


class _RateColumn(ProgressColumn):
    def render(self, task: Any) -> Text:
        speed = task.fields.get("rate")
        return Text("" if not speed else f"{speed:,.0f} steps/s", style="cyan")


class RichProgress:
    """A rich progress bar: env steps, member, recent sparse return (SP and XP returns for the
    cross-play minimisers), steps/s and ETA."""

    def __init__(self, label: str):
        self.label = label
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} steps"),
            _RateColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
        )
        self.task = None
        self._t0 = 0.0
        self._steps0 = 0

    def start(self, total_steps: int, done_steps: int) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task(
                self.label, total=total_steps, completed=done_steps, info="", rate=None
            )
        self._t0, self._steps0 = time.perf_counter(), done_steps

    def update(self, done_steps: int, metrics: dict[str, Any]) -> None:
        elapsed = time.perf_counter() - self._t0
        rate = (done_steps - self._steps0) / elapsed if elapsed > 0 else None
        ret = metrics.get("return", float("nan"))
        info = (
            f"member {metrics.get('member', '?')}  return {ret:.3g}" if not math.isnan(ret) else ""
        )
        if "xp" in metrics:  # cross-play minimisers: current SP and XP returns
            xp = metrics["xp"]
            info = f"member {metrics.get('member', '?')}  sp {metrics.get('sp', ret):.3g}"
            info += f"  xp {xp:.3g}" if not math.isnan(xp) else ""
        self.progress.update(self.task, completed=done_steps, info=info, rate=rate)

    def stop(self) -> None:
        if self.task is not None:
            self.progress.stop()


def generate(
    method: Annotated[
        str, typer.Option("--method", help="Generator: " + ", ".join(generator_names()))
    ],
    env: Annotated[str, typer.Option("--env", help="A registered env id, e.g. MPPMR-v0")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Population file to write")],
    pop_size: Annotated[int, typer.Option("--pop-size", help="Number of members M")] = 8,
    preset: Annotated[str, typer.Option(help="Config preset: smoke, default or paper")] = "default",
    seed: Annotated[int, typer.Option(help="Top-level seed")] = 0,
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    run_dir: Annotated[
        Path | None,
        typer.Option(help="Checkpoint directory (default: OUTPUT with suffix .run)"),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the run dir's checkpoint")] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config field: field=value or ppo.lr=1e-3"),
    ] = None,
    checkpoint_interval: Annotated[
        float, typer.Option(help="Seconds between checkpoints (0: every update)")
    ] = 60.0,
    threads: Annotated[
        int,
        typer.Option(
            help="torch CPU threads (fixed for determinism). 1 is fastest for the small networks "
            "and batches of the CPU presets; raise it for CNNs or large batches"
        ),
    ] = 1,
    quiet: Annotated[bool, typer.Option(help="No progress display")] = False,
) -> None:
    """Train a population and write it to OUTPUT (atomically, only when complete)."""
    from xpm_bench.registry import check_device

    check_device(device)
    run_dir = run_dir if run_dir is not None else output.with_name(output.name + ".run")
    progress = None if quiet else RichProgress(f"{method} {env}")
    pop = run_generation(
        method,
        env,
        pop_size,
        seed=seed,
        preset=preset,
        overrides=set_ or (),
        output=output,
        run_dir=run_dir,
        resume=resume,
        device=device,
        checkpoint_interval_s=checkpoint_interval,
        progress=progress,
        threads=threads,
    )
    ledger = pop.ledger or {}
    console.print(
        f"wrote {output}: {len(pop)} members, {ledger.get('env_steps', 0):,} env steps "
        f"in {ledger.get('wall_clock_s', 0.0):.1f}s"
    )
