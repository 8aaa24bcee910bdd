"""``xpm-bench leaderboard``: submit, verify, render and resubmit leaderboard entries."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from xpm_bench.cli.common import console, err_console, say
from xpm_bench.leaderboard.board import DEFAULT_ROOT

app = typer.Typer(
    help="Leaderboards: submit results, verify entries, render the tables and web page.",
    no_args_is_help=True,
)

Root = Annotated[Path, typer.Option(help="The leaderboards folder (data only)")]


@app.command("submit")
def submit(
    result: Annotated[Path, typer.Argument(help="The evaluator's result JSON")],
    population: Annotated[Path, typer.Option(help="The population file it was computed from")],
    board: Annotated[
        Path | None, typer.Option(help="Board folder (default: ROOT/ENV/PROTOCOL-vN)")
    ] = None,
    root: Root = DEFAULT_ROOT,
    description: Annotated[
        str | None, typer.Option(help="One line (default: 'METHOD at M = N, seed S')")
    ] = None,
    authors: Annotated[str | None, typer.Option(help="Authors string")] = None,
    generation_command: Annotated[
        str | None,
        typer.Option(help="The 'xpm-bench generate ...' line (default: rebuilt from the file)"),
    ] = None,
    entry_id: Annotated[
        str | None, typer.Option("--id", help="Entry folder name (default: METHOD-mM-HASH8)")
    ] = None,
    population_url: Annotated[
        str | None,
        typer.Option(help="Record this URL and the file's sha256 instead of copying the file"),
    ] = None,
) -> None:
    """Check RESULT against its population and board, then add it as a new entry."""
    from xpm_bench.leaderboard.submit import SubmitOptions
    from xpm_bench.leaderboard.submit import submit as do_submit

    options = SubmitOptions(
        description=description,
        authors=authors,
        generation_command=generation_command,
        entry_id=entry_id,
        population_url=population_url,
    )
    entry = do_submit(result, population, board, root, options)
    console.print(f"submitted {entry.label} -> {entry.path}", highlight=False, soft_wrap=True)
    err_console.print("now run `xpm-bench leaderboard render` and commit the entry folder")


@app.command("verify")
def verify(
    target: Annotated[
        Path, typer.Argument(help="A leaderboards root, a board, an entry or a submission.json")
    ] = DEFAULT_ROOT,
    quick: Annotated[
        bool, typer.Option(help="Schema, hashes and versions only (no re-evaluation)")
    ] = False,
    compare: Annotated[
        str,
        typer.Option(help="auto (exact on the same machine type), exact, or ci"),
    ] = "auto",
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
) -> None:
    """Verify entries; a full verify re-evaluates each population and compares every field.

    Exit code 1 when any check fails or any number does not reproduce.
    """
    from xpm_bench.leaderboard.board import find_entries
    from xpm_bench.leaderboard.verify import verify_entries

    start = time.perf_counter()
    entries = find_entries(target)
    reports = verify_entries(entries, quick=quick, compare=compare, device=device, progress=say)
    failed = 0
    for report in reports:
        status = "[green]ok[/green]" if report.ok else "[red]FAIL[/red]"
        console.print(
            f"{status} {escape(report.label)} ({report.mode}, {report.seconds:.1f} s)",
            highlight=False,
        )
        for problem in report.problems:
            console.print(f"  [red]-[/red] {escape(problem)}", highlight=False, soft_wrap=True)
        for note in report.notes:
            console.print(f"  [dim]note: {escape(note)}[/dim]", highlight=False, soft_wrap=True)
        failed += not report.ok
    elapsed = time.perf_counter() - start
    console.print(
        f"{len(reports) - failed} of {len(reports)} entries verified "
        f"({'quick' if quick else 'full'}) in {elapsed:.1f} s",
        highlight=False,
    )
    if failed:
        raise typer.Exit(1)


@app.command("render")
def render(
    root: Root = DEFAULT_ROOT,
    check: Annotated[
        bool, typer.Option(help="Write nothing; exit 1 if the rendered files are not fresh")
    ] = False,
) -> None:
    """Write ROOT/README.md (tables) and ROOT/index.html (sortable web page)."""
    from xpm_bench.leaderboard import render as rendering

    if not root.is_dir():
        from xpm_bench.errors import LeaderboardError

        raise LeaderboardError(f"leaderboards folder {str(root)!r} does not exist")
    if check:
        stale = rendering.stale_files(root)
        if stale:
            err_console.print(
                f"not fresh: {', '.join(stale)}; run `xpm-bench leaderboard render`",
                highlight=False,
            )
            raise typer.Exit(1)
        console.print(f"rendered files in {root} are fresh", highlight=False)
        return
    for path in rendering.render(root):
        console.print(f"wrote {path}", highlight=False)


@app.command("resubmit")
def resubmit(
    board: Annotated[Path, typer.Argument(help="A board whose protocol version was superseded")],
    root: Root = DEFAULT_ROOT,
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    threads: Annotated[int, typer.Option(help="torch CPU threads")] = 1,
) -> None:
    """Re-evaluate BOARD's entries under the current protocol version, onto the new board.

    Run after a protocol or holdout version bump: each entry keeps its metadata.
    """
    import torch

    from xpm_bench.leaderboard.submit import resubmit as do_resubmit

    torch.set_num_threads(threads)
    written = do_resubmit(board, root, device=device, progress=say)
    for entry in written:
        console.print(f"submitted {entry.label}", highlight=False)
    console.print(
        f"{len(written)} entries resubmitted; run `xpm-bench leaderboard render`", highlight=False
    )
