"""Render: deterministic bytes, ranking by the primary score, freshness check, the committed
boards."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from lb_helpers import OPTIONS, run_main, write_variant

from xpm_bench.leaderboard import render as rendering
from xpm_bench.leaderboard.board import find_entries
from xpm_bench.leaderboard.submit import submit
from xpm_bench.leaderboard.verify import verify_entries

REPO = Path(__file__).resolve().parents[2]


def _set(path: str, value):
    def edit(data):
        node = data["result"]
        *parents, leaf = path.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value

    return edit


@pytest.fixture
def board_root(evaluated, root):
    """A board with the real entry and three variants whose primary scores differ."""
    entry = submit(evaluated[1], evaluated[0], root=root, options=OPTIONS)
    board = entry.board_dir
    write_variant(board, entry.data, "best", _set("ego.mean_return", 0.9))
    write_variant(board, entry.data, "middle", _set("ego.mean_return", 0.5))
    write_variant(board, entry.data, "no-ego", _set("ego", None))
    return root


def _table_ids(markdown: str) -> list[str]:
    header = markdown.index("| #")
    lines = markdown[header:].split("\n\n")[0].splitlines()[2:]
    return [line.split("|")[2].strip() for line in lines]


def test_render_is_deterministic_and_independent_of_the_folder(board_root, tmp_path):
    first = rendering.rendered_files(board_root)
    paths = rendering.render(board_root)
    assert [p.name for p in paths] == ["README.md", "index.html"]
    written = {p.name: p.read_bytes() for p in paths}
    assert written == {name: text.encode() for name, text in first.items()}
    rendering.render(board_root)  # the rendered files themselves are not data
    assert {p.name: p.read_bytes() for p in paths} == written
    moved = tmp_path / "elsewhere" / "boards"
    shutil.copytree(board_root, moved)
    assert {n: t.encode() for n, t in rendering.rendered_files(moved).items()} == written


def test_entries_are_ranked_by_the_primary_score(board_root, evaluated):
    markdown = rendering.rendered_files(board_root)["README.md"]
    ids = _table_ids(markdown)
    real_id = next(e.id for e in find_entries(board_root) if e.id.startswith("random-init"))
    assert evaluated[2]["ego"]["mean_return"] < 0.5  # untrained members: the ego learns little
    assert ids == ["best", "middle", real_id, "no-ego"]
    row = next(line for line in markdown.splitlines() if line.startswith("| 1 "))
    assert "0.9 [" in row  # primary score with its interval
    html = rendering.rendered_files(board_root)["index.html"]
    assert re.findall(r'<tr data-entry="([^"]+)"', html) == ids


def test_the_page_is_self_contained(board_root):
    html = rendering.rendered_files(board_root)["index.html"]
    assert "<script src" not in html and "<link" not in html and "@import" not in html
    urls = set(re.findall(r"https?://[^\s\"'<>]+", html))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace, never fetched
    assert html.count("<svg") == 4 and html.count("<rect") == 4 * 9  # one 3x3 heatmap each


def test_render_check_reports_stale_files(board_root, capsys):
    run_main(capsys, "leaderboard", "render", "--root", str(board_root))
    fresh = run_main(capsys, "leaderboard", "render", "--root", str(board_root), "--check")
    assert fresh.code == 0 and "fresh" in fresh.out
    write_variant(board_root / "MPPMR-v0" / "tiny-v1", _any_submission(board_root), "new", _noop)
    before = (board_root / "README.md").read_bytes()
    stale = run_main(capsys, "leaderboard", "render", "--root", str(board_root), "--check")
    assert stale.code == 1 and "not fresh" in stale.err and "README.md" in stale.err
    assert (board_root / "README.md").read_bytes() == before  # --check writes nothing


def _any_submission(root: Path) -> dict:
    return json.loads(next(root.rglob("submission.json")).read_text())


def _noop(data):
    return None


def test_committed_boards_pass_quick_verify_and_are_fresh():
    """What CI checks: every committed entry passes the stored checks, and the rendered
    files match the data (re-render with `xpm-bench leaderboard render` if this fails)."""
    root = REPO / "leaderboards"
    reports = verify_entries(find_entries(root), quick=True)
    assert reports and all(r.ok for r in reports), [r.problems for r in reports]
    assert rendering.stale_files(root) == []
