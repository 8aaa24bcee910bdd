"""Leaderboards: verified submissions, rendered tables and a static web page.

Boards are data under ``leaderboards/`` (see :mod:`xpm_bench.leaderboard.board`); this
package checks submissions (:mod:`~xpm_bench.leaderboard.schema`,
:mod:`~xpm_bench.leaderboard.checks`), adds them (:mod:`~xpm_bench.leaderboard.submit`),
recomputes them (:mod:`~xpm_bench.leaderboard.verify`) and renders the boards
(:mod:`~xpm_bench.leaderboard.render`: ``render(root)``, ``stale_files(root)``).
"""

from xpm_bench.leaderboard.board import BoardKey, Entry, find_entries, read_entry
from xpm_bench.leaderboard.submit import SubmitOptions, resubmit, submit, submit_result
from xpm_bench.leaderboard.verify import EntryReport, verify_entries, verify_entry

__all__ = [
    "BoardKey",
    "Entry",
    "EntryReport",
    "SubmitOptions",
    "find_entries",
    "read_entry",
    "resubmit",
    "submit",
    "submit_result",
    "verify_entries",
    "verify_entry",
]
