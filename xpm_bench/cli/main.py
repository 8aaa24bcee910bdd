"""Entry point of the ``xpm-bench`` command."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from xpm_bench import __version__
from xpm_bench.cli import envs
from xpm_bench.cli import evaluate as evaluate_cli
from xpm_bench.cli import generate as generate_cli
from xpm_bench.cli import holdout as holdout_cli
from xpm_bench.cli import info as info_cli
from xpm_bench.cli import leaderboard as leaderboard_cli
from xpm_bench.cli.common import err_console
from xpm_bench.errors import XpmBenchError

app = typer.Typer(
    name="xpm-bench",
    help="Generate and score populations of diverse cooperative partners (zero-shot coordination).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(envs.app, name="envs")
app.add_typer(holdout_cli.app, name="holdout")
app.add_typer(leaderboard_cli.app, name="leaderboard")
app.command("generate")(generate_cli.generate)
app.command("info")(info_cli.info)
app.command("evaluate")(evaluate_cli.evaluate)
app.command("render")(evaluate_cli.render)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"xpm-bench {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """xpm-bench: environments, population generators, evaluator and leaderboards."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors print one line and exit with code 2.

    Typer's standalone mode already turns usage errors into exit code 2 and Ctrl-C into 1;
    our own errors propagate out of it and are reported here.
    """
    try:
        app(args=argv)
    except XpmBenchError as error:
        err_console.print(f"[red]error:[/red] {error}", highlight=False)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        err_console.print("aborted")
        sys.exit(130)


if __name__ == "__main__":
    main()
