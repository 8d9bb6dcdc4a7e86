"""The report and the index in headless chromium: they draw, make no requests, run nothing from the data, and the
CSP holds. Screenshots go to test-artifacts/ for people to look at."""

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from splitbrain.reports import render_report
from splitbrain.reports.serve import StoreServer
from test_report_helpers import ATTACK, make_run

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    user_data = tempfile.mkdtemp(prefix="splitbrain-chromium-")
    pw = sync_api.sync_playwright().start()
    try:
        ctx = pw.chromium.launch_persistent_context(user_data, executable_path=CHROMIUM, args=ARGS, headless=True,
                                                    viewport={"width": 1300, "height": 900})
        try:
            yield ctx
        finally:
            ctx.close()
    finally:
        pw.stop()
        shutil.rmtree(user_data, ignore_errors=True)


def wait_js(page, expr, timeout=20.0):
    """Poll a JS expression until truthy. (wait_for_function evaluates strings with eval, which the report's CSP
    rightly refuses; page.evaluate goes through the debugger protocol instead.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expr):
        assert time.monotonic() < deadline, f"timed out waiting for {expr}"
        page.wait_for_timeout(20)


class Page:
    """A page that records console messages, page errors and every request it makes."""

    def __init__(self, ctx):
        self.page = ctx.new_page()
        self.console, self.requests = [], []
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.console.append(("pageerror", str(e))))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def open(self, url):
        self.page.goto(url)
        wait_js(self.page, "window.__rendered === true")
        return self.page

    def errors(self):
        return [m for m in self.console if m[0] in ("error", "pageerror", "warning")]


@pytest.mark.timeout(60)
def test_failing_report_draws_everything_offline(browser, tmp_path):
    report = render_report(make_run(tmp_path))
    p = Page(browser)
    page = p.open(report.as_uri())
    assert p.errors() == []
    assert p.requests == [report.as_uri()]                               # only the file itself
    assert page.locator("#verdict").inner_text().startswith("INVALID")
    assert "returned 1" in page.locator("#verdict").inner_text()
    assert page.locator("#counterexample svg g.stuck").count() == 1
    assert page.locator("#counterexample svg g.linearized").count() == 2
    # every canvas has been drawn on (some pixels are neither transparent nor white)
    painted = page.evaluate("""() => ['sb-timeline', 'sb-latency', 'sb-throughput'].map(id => {
        const c = document.getElementById(id), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i+3] && (d[i] < 200 || d[i+1] < 200)) n++; return n; })""")
    assert all(n > 500 for n in painted), painted
    # zoom: the wheel narrows the shared time window, double-click restores it
    whole = page.locator("#sb-range").inner_text()
    page.locator("#sb-timeline").scroll_into_view_if_needed()
    box = page.locator("#sb-timeline").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)
    wait_js(page, f"document.getElementById('sb-range').textContent !== {whole!r}")
    page.locator("#sb-zoom-failure").click()
    page.wait_for_timeout(100)
    page.mouse.move(0, 0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#sb-reset").click()
    page.wait_for_timeout(100)
    page.screenshot(path=str(ARTIFACTS / "report-failing.png"), full_page=True)
    assert p.errors() == []


@pytest.mark.timeout(60)
def test_markup_in_values_is_text_and_the_csp_blocks_injected_code(browser, tmp_path):
    report = render_report(make_run(tmp_path, attack=True))
    p = Page(browser)
    page = p.open(report.as_uri())
    assert p.errors() == [] and p.requests == [report.as_uri()]
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img").count() == 0 and page.locator("main b").count() == 0
    assert "<b>bold</b>" in page.locator("#counterexample").inner_text()
    assert ATTACK in page.locator("#sb-command").inner_text()
    # hovering an op whose value is the attack shows it as text in the tooltip
    csp = page.locator("meta[http-equiv=Content-Security-Policy]").get_attribute("content")
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    # the CSP is in force: a script that is not the page's own is refused
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.__csp_broken = 1';
                            document.body.appendChild(s); }""")
    assert page.evaluate("window.__csp_broken") is None
    assert any("Content Security Policy" in text for _, text in p.console)


@pytest.mark.timeout(60)
def test_index_page_filters_runs(browser, tmp_path):
    make_run(tmp_path, name="good", verdict=True, system="raft-kv", variant="correct")
    make_run(tmp_path, name="bad", verdict=False)
    make_run(tmp_path, name="undecided", verdict="unknown", system="raft-kv", variant="lossy")
    with StoreServer(tmp_path, port=0) as srv:
        p = Page(browser)
        page = p.open(srv.url)
        assert p.errors() == []
        assert page.locator("#runs tr.run:visible").count() == 3
        page.select_option("#f-system", "raft-kv")
        assert page.locator("#runs tr.run:visible").count() == 2
        page.select_option("#f-verdict", "unknown")
        assert page.locator("#runs tr.run:visible").count() == 1
        page.locator("#runs tr.run:visible a").first.click()
        wait_js(page, "window.__rendered === true")
        assert page.locator("#verdict").inner_text().startswith("UNKNOWN")
        assert "deadline of 1 s" in page.locator("#verdict").inner_text()
        page.screenshot(path=str(ARTIFACTS / "report-unknown.png"))
        assert p.errors() == []


@pytest.mark.timeout(60)
def test_causal_chain_and_second_opinion_sections(browser, tmp_path):
    report = render_report(make_run(tmp_path, causal=True, attack=True))
    p = Page(browser)
    page = p.open(report.as_uri())
    assert p.errors() == [] and p.requests == [report.as_uri()]
    assert page.evaluate("window.__pwned") is None
    card = page.locator("section.anomalies .card", has_text="WriteCOInitRead")
    # the chain is drawn: four numbered steps, the read that broke the rule, arrows between them, visible
    assert card.locator("svg g.chain").count() == 4 and card.locator("svg g.stuck").count() == 1
    assert card.locator("svg g.link").count() == 4
    assert [card.locator("svg g.chain text.order").nth(i).text_content() for i in range(4)] == ["1", "2", "3", "4"]
    box = card.locator("svg g.stuck rect").bounding_box()
    assert box and box["width"] > 10 and box["height"] > 10
    assert "\u2192 null" in card.locator("svg g.stuck").text_content()
    # the table says who did what, on which node, and how each step follows from the one before
    rows = card.locator("table.anomaly-ops tr")
    assert rows.count() == 6
    assert "read the value the step before wrote" in rows.nth(2).inner_text()
    assert "n2" in rows.nth(2).inner_text() and "same process, later" in rows.nth(5).inner_text()
    # the second opinion: its facts (node, updates, position) rather than an empty op table; markup stays text
    second = page.locator("section.anomalies", has_text="delivery-order (second opinion)")
    assert second.locator("table.anomaly-ops").count() == 0
    facts = second.locator("table.anomaly-facts").inner_text()
    assert "n1:4, n2:64" in facts and "17" in facts and ATTACK in facts
    assert "second opinion" in page.locator("#checkers").inner_text()
    assert "test_name" not in page.locator("#test").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    card.screenshot(path=str(ARTIFACTS / "report-causal-chain.png"))
    assert p.errors() == []
