"""``xpm-bench leaderboard render``: the boards as ``README.md`` and one static ``index.html``.

Both files are functions of the data only (no dates, no machine facts, fixed number
formats, sorted boards and entries), so rendering the same boards twice gives the same
bytes and CI can check that the committed files are fresh.

Ranking: by the **primary score**, the ego's mean team return against the board's holdout
partners (both seats, every partner; :data:`PRIMARY`), highest first; entries without an ego
come last; ties go to the lower entry id. The ego is the evaluator's PPO best response to the
population: the score says how well a population trains an agent for partners it has never
met, the point of a partner population in zero-shot coordination.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabulate import tabulate

from xpm_bench.errors import XpmBenchError
from xpm_bench.evaluation.protocol import get_protocol
from xpm_bench.io import atomic_path
from xpm_bench.leaderboard.board import DEFAULT_ROOT, BoardKey, Entry, iter_boards

README_FILE = "README.md"
HTML_FILE = "index.html"
PRIMARY = "ego"  # the key of the primary-score column below

Getter = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Column:
    """One leaderboard column.

    Attributes:
        key: a short identifier (HTML ``data-col``).
        title: the header text.
        value: the number or text shown, from an entry's result (``None``: not available).
        ci: the ``[low, high]`` interval shown next to the value, if any.
        kind: ``number``, ``count`` (integer with thousands separators), ``seconds`` or
            ``text``; decides formatting and how the web page sorts.
        help: what the column means (the README's legend and the header's tooltip).
        always: shown even when no entry of a board has a value (else the column is dropped).
    """

    key: str
    title: str
    value: Getter
    ci: Getter | None = None
    kind: str = "number"
    help: str = ""
    always: bool = False


def _get(*path: str) -> Getter:
    def getter(result: dict[str, Any]) -> Any:
        node: Any = result
        for key in path:
            if not isinstance(node, dict) or node.get(key) is None:
                return None
            node = node[key]
        return node

    return getter


def _metric(name: str) -> tuple[Getter, Getter]:
    return _get("metrics", name, "value"), _get("metrics", name, "ci")


COLUMNS: tuple[Column, ...] = (
    Column(
        "ego",
        "ego vs holdout",
        _get("ego", "mean_return"),
        _get("ego", "mean_return_ci"),
        help="primary score: mean team return of the ego (PPO best response to the population) "
        "with every holdout partner, both seats [95% bootstrap CI]",
        always=True,
    ),
    Column(
        "br_prox",
        "BR-Prox IQM",
        _get("ego", "br_prox_iqm"),
        help="ZSC-Eval's best-response proximity, min(1, ego return / best-response return), "
        "interquartile mean over holdout partners that have a known best response",
    ),
    Column("sp", "SP", *_metric("sp_mean"), help="mean self-play return [CI]", always=True),
    Column("xp", "XP", *_metric("xp_mean"), help="mean cross-play return [CI]", always=True),
    Column(
        "gap", "norm. gap", *_metric("normalised_gap"), help="1 - XP / SP: 1 = fully incompatible"
    ),
    Column(
        "classes",
        "classes",
        _get("metrics", "compatibility_classes"),
        kind="count",
        help="compatibility classes (members linked when their XP reaches tau x their SP)",
    ),
    Column(
        "diversity",
        "event diversity",
        *_metric("event_profile_diversity"),
        help="mean pairwise total-variation distance of the members' self-play event profiles",
    ),
    Column(
        "sabotage",
        "self-sabotage",
        *_metric("self_sabotage_rate"),
        help="fraction of cross-play episodes that end with a quit",
    ),
    Column(
        "landmarks",
        "landmarks",
        _get("metrics", "landmarks_used"),
        kind="count",
        help="MPPMR: distinct landmarks where members meet in self-play",
    ),
    Column(
        "env_steps",
        "env steps",
        _get("sample_cost", "env_steps"),
        kind="count",
        help="real environment steps the generator took (counted by the harness)",
        always=True,
    ),
    Column(
        "imagined",
        "imagined steps",
        _get("sample_cost", "imagined_steps"),
        kind="count",
        help="world-model steps the generator took",
        always=True,
    ),
    Column(
        "wall_clock",
        "wall clock",
        _get("sample_cost", "wall_clock_s"),
        kind="seconds",
        help="generation time on the submitter's machine (not comparable across machines)",
        always=True,
    ),
    Column(
        "ego_steps",
        "ego steps",
        _get("ego", "train_env_steps"),
        kind="count",
        help="env steps the evaluator spent training the ego (set by the protocol)",
    ),
)


@dataclass
class RenderedBoard:
    """A board ready to render: its key, entries in rank order and the columns it shows."""

    key: BoardKey
    entries: list[Entry]
    columns: list[Column]
    retired: bool


def rank(entries: list[Entry]) -> list[Entry]:
    """Entries in leaderboard order (see the module docstring)."""
    primary = next(c for c in COLUMNS if c.key == PRIMARY)

    def order(entry: Entry) -> tuple:
        score = primary.value(entry.result)
        return (score is None, -(score or 0.0), entry.id)

    return sorted(entries, key=order)


def collect(root: str | os.PathLike = DEFAULT_ROOT) -> list[RenderedBoard]:
    """Every board under ``root``: current boards first, then retired ones, each sorted."""
    boards = []
    for key, entries in iter_boards(root):
        if not entries:
            continue
        shown = [
            c for c in COLUMNS if c.always or any(c.value(e.result) is not None for e in entries)
        ]
        boards.append(RenderedBoard(key, rank(entries), shown, _retired(key)))
    return sorted(boards, key=lambda b: (b.retired, b.key))


def _retired(key: BoardKey) -> bool:
    try:
        return key.version < get_protocol(key.env_id, key.protocol).version
    except XpmBenchError:
        return False


# ------------------------------------------------------------------------ formatting
def fmt_value(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "text":
        return str(value)
    if kind == "count":
        return f"{int(value):,}"
    if kind == "seconds":
        seconds = float(value)
        if seconds < 120:
            return f"{seconds:.0f} s"
        if seconds < 7200:
            return f"{seconds / 60:.1f} min"
        return f"{seconds / 3600:.1f} h"
    return f"{float(value):.3g}"


def fmt_ci(column: Column, result: dict[str, Any]) -> str:
    """``[low, high]`` of the column's interval, or ``""`` where it has none."""
    ci = column.ci(result) if column.ci else None
    if column.value(result) is None or not ci or None in ci:
        return ""
    return f"[{ci[0]:.3g}, {ci[1]:.3g}]"


def fmt_cell(column: Column, result: dict[str, Any]) -> str:
    """The value, then its interval if any: ``0.91 [0.88, 0.94]``."""
    text = fmt_value(column.value(result), column.kind)
    ci = fmt_ci(column, result)
    return f"{text} {ci}" if ci else text


def protocol_line(result: dict[str, Any]) -> str:
    """The settings a board's numbers were computed under, in one line."""
    proto, holdout = result["protocol"], result["holdout"]
    steps = proto.get("ego_env_steps") or (proto.get("ego") or {}).get("env_steps")  # format 1, 2
    ego = f"ego {steps:,} env steps" if steps else "no ego"
    return (
        f"{proto['episodes']} episodes per seat assignment, evaluation seed {proto['seed']}, "
        f"{proto.get('n_boot', '?')} bootstrap resamples, tau {proto.get('tau', '?')}, {ego}; "
        f"holdout set {holdout['name']} v{holdout['version']} ({len(holdout['partners'])} "
        f"partners, {holdout['hash'][:19]}...)"
    )


# -------------------------------------------------------------------------- markdown
INTRO = """\
# Leaderboards

<!-- Generated by `xpm-bench leaderboard render` from the submissions in this folder; do not
edit by hand: CI re-renders it and fails if it differs. -->

Every number here can be recomputed from a population file in this folder, and every entry
pins what it was scored under: the environment version, the evaluation protocol's name and
version, the holdout partner set's version and content hash, the population file's sha256 and
the xpm-bench version. There is one board per environment id and protocol version; results
from different boards are not comparable. An interactive page with sortable columns and each
entry's cross-play heatmap is [index.html](index.html).

**Ranking.** Entries are ranked by the primary score, the *ego's return against the holdout
partners*: the evaluator trains a PPO best response to the population (the ego) and plays it
with every holdout partner, partners it never saw, in both seats. The score says how well a
population prepares an agent for unknown partners. Intervals are 95% bootstrap intervals over
episodes.

| column | meaning |
|---|---|
{legend}

## Submit

```bash
xpm-bench generate --method sp --env MPPMR-v0 --pop-size 8 --preset default --seed 0 -o pop.pt
xpm-bench evaluate pop.pt --protocol default --out result.json
xpm-bench leaderboard submit result.json --population pop.pt --description "one line"
xpm-bench leaderboard render
```

`submit` checks the result against the population file (hash), the board (env, protocol and
holdout versions, and the holdout set's hash shared by its entries) and the generation
command (parsed and compared with the file's config), refuses duplicates, and writes the
entry folder `ENV/PROTOCOL-vN/ID/` atomically: `submission.json` and a copy of the population
(files over 20 MiB: publish them and pass `--population-url URL`; the sha256 pins them).
Options: `--authors`, `--generation-command` (default: rebuilt from the file), `--id`,
`--board`. Then open a pull request with the entry folder and the re-rendered files.

## Verify

```bash
xpm-bench leaderboard verify leaderboards --quick            # schema, hashes, versions
xpm-bench leaderboard verify leaderboards/MPPMR-v0/default-v1 # re-evaluate and compare
```

A full verify re-evaluates each population under its recorded protocol and compares every
reported field: bit-exact on the same xpm-bench version and type of machine (evaluation is
seeded), otherwise exact for the deterministic fields and within the reported interval for the
estimates. It names each field that does not reproduce and exits 1.

When a protocol or holdout version is bumped, its boards are retired (kept, marked below) and
`xpm-bench leaderboard resubmit leaderboards/ENV/PROTOCOL-vN` re-evaluates every entry under
the current version and submits it to the new board with the same metadata.
"""


def render_markdown(boards: list[RenderedBoard]) -> str:
    """The text of ``README.md``."""
    legend = "\n".join(f"| {c.title} | {c.help} |" for c in COLUMNS if c.help)
    parts = [INTRO.format(legend=legend)]
    if not boards:
        parts.append("\nNo boards yet.\n")
    for board in boards:
        parts.append("\n" + _board_markdown(board))
    return "".join(parts)


def _board_markdown(board: RenderedBoard) -> str:
    key = board.key
    title = f"## {key.env_id} · {key.protocol} v{key.version}"
    if board.retired:
        title += " (retired: superseded by a newer protocol version)"
    headers = ["#", "entry", "method", "M", *(c.title for c in board.columns)]
    rows = []
    for i, entry in enumerate(board.entries, 1):
        result = entry.result
        rows.append(
            [
                str(i),
                entry.id,
                entry.metadata["method"],
                str(result["population"]["pop_size"]),
                *(fmt_cell(c, result) for c in board.columns),
            ]
        )
    table = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    lines = [title, "", f"Protocol: {protocol_line(board.entries[0].result)}.", "", table, ""]
    lines.append("Entries:")
    lines.append("")
    for entry in board.entries:
        lines.append(_entry_markdown(key, entry))
    lines.append("")
    return "\n".join(lines)


def _entry_markdown(key: BoardKey, entry: Entry) -> str:
    meta, pop = entry.metadata, entry.data["population"]
    authors = f" ({meta['authors']})" if meta.get("authors") else ""
    where = (
        f"[{pop['file']}]({key.relpath}/{entry.id}/{pop['file']})"
        if "file" in pop
        else f"<{pop['url']}>"
    )
    lines = [
        f"- **[{entry.id}]({key.relpath}/{entry.id}/submission.json)**{authors}: "
        f"{meta['description']}. xpm-bench "
        f"{entry.result['xpm_bench_version']}; population {where}, `{pop['sha256']}`.",
        f"  - generated with `{meta['generation_command']}`",
        f"  - evaluated with `{meta['evaluation_command']}`",
    ]
    if meta.get("resubmitted_from"):
        lines.append(f"  - re-evaluated from `{meta['resubmitted_from']}`")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ html
def render_html(boards: list[RenderedBoard]) -> str:
    """The text of ``index.html``: one self-contained page (inline CSS, JS and SVG)."""
    options = "\n".join(
        f'<option value="{_board_id(b.key)}">{html.escape(_board_title(b))}</option>'
        for b in boards
    )
    sections = "\n".join(_board_html(b, i == 0) for i, b in enumerate(boards))
    legend = "\n".join(
        f"<dt>{html.escape(c.title)}</dt><dd>{html.escape(c.help)}</dd>" for c in COLUMNS if c.help
    )
    return HTML_TEMPLATE.format(
        options=options or '<option value="">no boards</option>',
        sections=sections or "<p>No boards yet.</p>",
        legend=legend,
        css=CSS,
        js=JS,
    )


def _board_id(key: BoardKey) -> str:
    return f"board-{key.env_id}-{key.protocol}-v{key.version}"


def _board_title(board: RenderedBoard) -> str:
    key = board.key
    retired = " (retired)" if board.retired else ""
    return f"{key.env_id} · {key.protocol} v{key.version}{retired}"


def _board_html(board: RenderedBoard, visible: bool) -> str:
    scale = _heatmap_scale(board.entries)
    head = [
        _th("rank", "#", "number", "rank by the primary score", sorted_asc=True),
        _th("entry", "entry", "text", "entry id (folder name)"),
        _th("method", "method", "text", "generator"),
        _th("m", "M", "number", "population size"),
    ]
    head.append(
        '<th class="nosort" title="mean team return; rows: member in seat 0, columns: member '
        'in seat 1; one colour scale per board">cross-play</th>'
    )
    numeric = {"number", "count", "seconds"}
    for c in board.columns:
        head.append(_th(c.key, c.title, "number" if c.kind in numeric else "text", c.help))
    rows = []
    for i, entry in enumerate(board.entries, 1):
        result = entry.result
        meta = entry.metadata
        cells = [
            _td(i, str(i)),
            f'<td data-value="{html.escape(entry.id)}" title="{html.escape(meta["description"])}">'
            f"{html.escape(entry.id)}</td>",
            _td(meta["method"], meta["method"]),
            _td(result["population"]["pop_size"], str(result["population"]["pop_size"])),
        ]
        cells.append(f'<td class="heatmap">{heatmap_svg(result, scale)}</td>')
        cells += [
            _td(c.value(result), fmt_value(c.value(result), c.kind), fmt_ci(c, result))
            for c in board.columns
        ]
        rows.append(f'<tr data-entry="{html.escape(entry.id)}">' + "".join(cells) + "</tr>")
    entries = "\n".join(_entry_html(entry) for entry in board.entries)
    hidden = "" if visible else " hidden"
    return (
        f'<section class="board" id="{_board_id(board.key)}"{hidden}>\n'
        f"<h2>{html.escape(_board_title(board))}</h2>\n"
        f'<p class="protocol">{html.escape(protocol_line(board.entries[0].result))}</p>\n'
        f'<div class="scroll"><table class="leaderboard">\n<thead><tr>{"".join(head)}</tr></thead>\n'
        f"<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table></div>\n"
        f"<details><summary>Entries: descriptions and commands</summary>\n<ul>\n{entries}\n"
        f"</ul></details>\n</section>"
    )


def _th(key: str, title: str, kind: str, help_text: str, sorted_asc: bool = False) -> str:
    sort = ' aria-sort="ascending"' if sorted_asc else ""
    return (
        f'<th data-col="{key}" data-type="{kind}" title="{html.escape(help_text)}"{sort}>'
        f'<button type="button">{html.escape(title)}</button></th>'
    )


def _td(value: Any, text: str, ci: str = "") -> str:
    data = "" if value is None else html.escape(_data_value(value))
    interval = f'<span class="ci">{html.escape(ci)}</span>' if ci else ""
    return f'<td data-value="{data}">{html.escape(text)}{interval}</td>'


def _data_value(value: Any) -> str:
    return repr(float(value)) if isinstance(value, (int, float)) else str(value)


def _entry_html(entry: Entry) -> str:
    meta, pop = entry.metadata, entry.data["population"]
    authors = f" ({meta['authors']})" if meta.get("authors") else ""
    return (
        f"<li><strong>{html.escape(entry.id)}</strong>{html.escape(authors)}: "
        f"{html.escape(meta['description'])}. Population <code>{html.escape(pop['sha256'])}"
        f"</code>.<br>generated with <code>{html.escape(meta['generation_command'])}</code>"
        f"<br>evaluated with <code>{html.escape(meta['evaluation_command'])}</code></li>"
    )


def _heatmap_scale(entries: list[Entry]) -> tuple[float, float]:
    """One colour scale per board, so heatmaps of its entries can be compared."""
    values = [v for e in entries for row in e.result["xp_matrix"] for v in row if v is not None]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    low = min(low, 0.0)
    return low, high if high > low else low + 1.0


def heatmap_svg(result: dict[str, Any], scale: tuple[float, float]) -> str:
    """The cross-play matrix as an inline SVG (row member in seat 0), one cell per pair."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    matrix = result["xp_matrix"]
    names = result["population"]["member_names"]
    m = len(matrix)
    cell = max(4, min(14, 112 // max(m, 1)))
    low, high = scale
    cmap = colormaps["viridis"]
    rects = []
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            shade = None if value is None else (value - low) / (high - low)
            colour = "#cccccc" if shade is None else to_hex(cmap(shade))
            label = f"{names[i]} (seat 0) + {names[j]} (seat 1): " + (
                "-" if value is None else f"{value:.3g}"
            )
            rects.append(
                f'<rect x="{j * cell}" y="{i * cell}" width="{cell}" height="{cell}" '
                f'fill="{colour}"><title>{html.escape(label)}</title></rect>'
            )
    size = m * cell
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" role="img" aria-label="cross-play matrix">'
        + "".join(rects)
        + "</svg>"
    )


CSS = """\
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem 2rem;
  color: #1d1d1f; }
header { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; }
h1 { font-size: 1.5rem; margin: 0 1rem 0 0; }
h2 { font-size: 1.2rem; margin-top: 1.2rem; }
.protocol, .intro { color: #555; max-width: 70rem; }
div.scroll { overflow-x: auto; }
table.leaderboard { border-collapse: collapse; font-size: 0.85rem; }
table.leaderboard th, table.leaderboard td { border-bottom: 1px solid #ddd;
  padding: 0.25rem 0.45rem; text-align: right; vertical-align: middle; white-space: nowrap; }
table.leaderboard th { white-space: normal; vertical-align: bottom; }
table.leaderboard :is(th, td):nth-child(2), table.leaderboard :is(th, td):nth-child(3) {
  text-align: left; }
table.leaderboard th button { font: inherit; font-weight: 600; border: 0; background: none;
  cursor: pointer; padding: 0; text-align: inherit; }
span.ci { display: block; font-size: 0.75rem; color: #666; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; }
th[aria-sort="descending"] button::after { content: " \\25BC"; }
tbody tr:nth-child(odd) { background: #f6f7f9; }
td.heatmap svg { display: block; margin: 0 auto; }
dl.legend { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem;
  font-size: 0.85rem; color: #444; max-width: 70rem; }
dl.legend dt { font-weight: 600; }
dl.legend dd { margin: 0; }
code { font-size: 0.85em; }
"""

JS = """\
(function () {
  "use strict";
  function cellValue(row, index, type) {
    var raw = row.children[index].getAttribute("data-value");
    if (raw === null || raw === "") { return null; }
    return type === "number" ? parseFloat(raw) : raw;
  }
  function sortBy(table, th) {
    var headers = Array.prototype.slice.call(th.parentNode.children);
    var index = headers.indexOf(th);
    var type = th.getAttribute("data-type");
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index, type), y = cellValue(b, index, type);
      if (x === null && y === null) { return 0; }
      if (x === null) { return 1; }
      if (y === null) { return -1; }
      var order = type === "number" ? x - y : (x < y ? -1 : x > y ? 1 : 0);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  document.querySelectorAll("table.leaderboard").forEach(function (table) {
    table.querySelectorAll("th[data-col] button").forEach(function (button) {
      button.addEventListener("click", function () { sortBy(table, button.parentNode); });
    });
  });
  var select = document.getElementById("board-select");
  function show(id) {
    document.querySelectorAll("section.board").forEach(function (section) {
      section.hidden = section.id !== id;
    });
  }
  select.addEventListener("change", function () {
    show(select.value);
    history.replaceState(null, "", "#" + select.value);
  });
  var wanted = decodeURIComponent(location.hash.slice(1));
  if (wanted && document.getElementById(wanted)) { select.value = wanted; show(wanted); }
})();
"""

HTML_TEMPLATE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>xpm-bench leaderboards</title>
<style>
{css}</style>
</head>
<body>
<header>
<h1>xpm-bench leaderboards</h1>
<label for="board-select">Board</label>
<select id="board-select">
{options}
</select>
</header>
<p class="intro">Every number is recomputable from the entry's population file with
<code>xpm-bench leaderboard verify</code>. Ranked by the primary score, the ego's return against
the holdout partners (95% bootstrap intervals in brackets). Click a column header to sort.</p>
{sections}
<h2>Columns</h2>
<dl class="legend">
{legend}
</dl>
<script>
{js}</script>
</body>
</html>
"""


# ------------------------------------------------------------------------------ files
def rendered_files(root: str | os.PathLike = DEFAULT_ROOT) -> dict[str, str]:
    """``{file name: text}`` of everything :func:`render` writes under ``root``."""
    boards = collect(root)
    return {README_FILE: render_markdown(boards), HTML_FILE: render_html(boards)}


def render(root: str | os.PathLike = DEFAULT_ROOT) -> list[Path]:
    """Write ``README.md`` and ``index.html`` under ``root`` (atomically); return the paths."""
    written = []
    for name, text in rendered_files(root).items():
        path = Path(root) / name
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_files(root: str | os.PathLike = DEFAULT_ROOT) -> list[str]:
    """The rendered files under ``root`` that are missing or differ from a fresh render."""
    stale = []
    for name, text in rendered_files(root).items():
        path = Path(root) / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(str(path))
    return stale
