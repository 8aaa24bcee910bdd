"""Shared CLI plumbing: consoles and the one place user errors become exit code 2."""

from __future__ import annotations

from rich.console import Console

console = Console()
err_console = Console(stderr=True, soft_wrap=True)
