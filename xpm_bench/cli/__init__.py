"""The ``xpm-bench`` command line (typer)."""
