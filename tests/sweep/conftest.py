"""Helpers shared by the sweep tests."""

from __future__ import annotations

import pytest

from xpm_bench.cli.main import main


def _run_main(*argv: str) -> int:
    """Exit code of ``xpm-bench ARGV`` run in this process."""
    try:
        main(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


@pytest.fixture
def run_main():
    return _run_main
