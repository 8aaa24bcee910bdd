"""Entry point of the ``xpm-bench`` command."""

from __future__ import annotations

import sys
from typing import Annotated

import click
import typer

from xpm_bench import __version__
from xpm_bench.cli import envs
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
    """Run the CLI; user errors print one line and exit with code 2."""
    try:
        app(args=argv, standalone_mode=False)
    except XpmBenchError as error:
        err_console.print(f"[red]error:[/red] {error}", highlight=False)
        sys.exit(error.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)


# population generation and inspection
from xpm_bench.cli import generate as _generate  # noqa: E402
from xpm_bench.cli import info as _info  # noqa: E402

app.command("generate")(_generate.generate)
app.command("info")(_info.info)

if __name__ == "__main__":
    main()
