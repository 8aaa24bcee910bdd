"""The rendered ``index.html`` in a real browser: headless Chromium from Debian's packages,
driven by Selenium through Debian's chromedriver (no browser download).

Skipped with a reason where Chromium is not installed, except in CI (``CI`` set), where a
missing browser fails: ``.ci/run`` installs it.
"""

from __future__ import annotations

import tempfile

import pytest
from lb_helpers import OPTIONS, chromium_paths, in_ci, write_variant

from xpm_bench.leaderboard import render as rendering
from xpm_bench.leaderboard.submit import submit

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,900",
)


@pytest.fixture(scope="module")
def browser():
    paths = chromium_paths()
    if paths is None:
        message = (
            "Debian's chromium and chromium-driver are not installed "
            "(apt-get install -y chromium chromium-driver)"
        )
        if in_ci():
            pytest.fail(f"CI must run the browser test: {message}")
        pytest.skip(message)
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (dev extra) missing")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory() as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(executable_path=paths[1]), options=options)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture
def page(evaluated, root):
    """Two boards: the real entry plus three variants, and a second board of one entry."""
    entry = submit(evaluated[1], evaluated[0], root=root, options=OPTIONS)
    board = entry.board_dir

    def scores(ego, xp):
        def edit(data):
            data["result"]["ego"]["mean_return"] = ego
            data["result"]["metrics"]["xp_mean"]["value"] = xp

        return edit

    write_variant(board, entry.data, "alpha", scores(0.9, 0.30))
    write_variant(board, entry.data, "beta", scores(0.5, 0.10))
    write_variant(board, entry.data, "gamma", scores(0.7, 0.20))

    def other_protocol(data):
        data["result"]["protocol"]["name"] = "other"

    write_variant(root / "MPPMR-v0" / "other-v1", entry.data, "solo", other_protocol)
    rendering.render(root)
    return root / "index.html", entry.id


def _visible_ids(driver, section_id):
    rows = driver.find_elements("css selector", f"#{section_id} tbody tr")
    return [row.get_attribute("data-entry") for row in rows]


def test_table_renders_every_entry_and_headers_sort(browser, page):
    index, real_id = page
    browser.get(index.as_uri())
    section = "board-MPPMR-v0-other-v1"
    first = browser.find_element("css selector", "section.board:not([hidden])").get_attribute("id")
    assert first == section  # boards sorted by key: "other" before "tiny"

    select = browser.find_element("id", "board-select")
    from selenium.webdriver.support.ui import Select

    Select(select).select_by_value("board-MPPMR-v0-tiny-v1")
    tiny = "board-MPPMR-v0-tiny-v1"
    assert browser.find_element("id", tiny).is_displayed()
    assert not browser.find_element("id", section).is_displayed()
    assert _visible_ids(browser, tiny) == ["alpha", "gamma", "beta", real_id]  # by ego score
    cells = browser.find_elements("css selector", f"#{tiny} tbody tr td.heatmap svg")
    assert len(cells) == 4 and all(c.size["width"] > 0 for c in cells)

    header = browser.find_element("css selector", f'#{tiny} th[data-col="xp"] button')
    header.click()
    ascending = _visible_ids(browser, tiny)
    assert [i for i in ascending if i != real_id] == ["beta", "gamma", "alpha"]  # XP .1 .2 .3
    xp = _column_values(browser, tiny, "xp")
    assert xp == sorted(xp) and len(xp) == 4
    header.click()
    assert _column_values(browser, tiny, "xp") == sorted(xp, reverse=True)
    th = browser.find_element("css selector", f'#{tiny} th[data-col="xp"]')
    assert th.get_attribute("aria-sort") == "descending"


def _column_values(driver, section, key) -> list[float]:
    """The sort values of one column, top row first."""
    headers = driver.find_elements("css selector", f"#{section} thead th")
    n = 1 + [h.get_attribute("data-col") for h in headers].index(key)
    cells = driver.find_elements("css selector", f"#{section} tbody tr td:nth-child({n})")
    return [float(td.get_attribute("data-value")) for td in cells]
