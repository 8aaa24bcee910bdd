"""``python -m xpm_bench`` runs the CLI."""

from xpm_bench.cli.main import main

main()
