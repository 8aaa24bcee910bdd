"""Shared CLI plumbing: consoles and the one place user errors become exit code 2."""

from __future__ import annotations

from rich.console import Console

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def say(message: str) -> None:
    """A progress line for long commands, on stderr so it never mixes with results."""
    err_console.print(f"[dim]{message}[/dim]", highlight=False)
