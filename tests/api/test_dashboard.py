"""The demo end to end, the dashboard page, and both in real headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from api.cli import app
from api.service.dashboard_slots import POSTERIOR_TITLE, SHARES_TITLE

ARTIFACTS = Path(
    os.environ.get("DUNNING_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts")
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """`dunning-bandit demo --no-serve` on a small horizon: database, dashboard file, key."""
    where = tmp_path_factory.mktemp("demo")
    database, page = where / "demo.db", where / "dashboard.html"
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--no-serve",
            "--db",
            str(database),
            "--out",
            str(page),
            "--days",
            "8",
            "--daily",
            "150",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "decisions and" in result.output and "admin key: dbk_" in result.output
    key = result.output.split("admin key: ")[1].split()[0]
    return database, page, key


def test_demo_writes_a_self_contained_dashboard(demo: tuple[Path, Path, str]) -> None:
    _, page, _ = demo
    html = page.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*src=[\"']?https?:", html)  # no CDN: plotly.js inline
    assert html.count("plotly-graph-div") >= 7
    for text in (
        "friendly",
        "instalment",
        "email/de",
        "sms/zh",
        "letter/da",
        "voice/en",
        "Recovery curve",
        "Allocation per touch",
        "contacts per payer",
    ):
        assert text in html


@pytest.fixture(scope="module")
def send_time_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`dunning-bandit demo --no-serve --scenario send-time` on a small horizon: the
    dashboard file of a campaign with send slots."""
    where = tmp_path_factory.mktemp("send-time")
    page = where / "dashboard.html"
    args = ["--db", str(where / "demo.db"), "--out", str(page), "--days", "3", "--daily", "60"]
    result = CliRunner().invoke(app, ["demo", "--no-serve", "--scenario", "send-time", *args])
    assert result.exit_code == 0, result.output
    return page


def test_the_send_time_demo_shows_the_slot_panels(
    send_time_demo: Path, demo: tuple[Path, Path, str]
) -> None:
    html = send_time_demo.read_text(encoding="utf-8")
    assert POSTERIOR_TITLE in html and SHARES_TITLE in html and "<h2>Send slots</h2>" in html
    table = html.split("<h2>Send slots</h2>")[1].split("</table>")[0]
    for channel in ("email", "sms", "letter"):
        for slot in ("08:00-11:00", "11:00-14:00", "14:00-17:00", "17:00-21:00"):
            assert f"<td>{channel}</td><td>{slot}</td>" in table
    baseline = demo[1].read_text(encoding="utf-8")  # without send slots: no slot panels
    assert POSTERIOR_TITLE not in baseline and SHARES_TITLE not in baseline


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(demo: tuple[Path, Path, str]) -> Iterator[str]:
    """The real server (uvicorn) on the demo database."""
    database, _, _ = demo
    port = _free_port()
    env = {**os.environ, "DUNNING_SQLITE_PATH": str(database)}
    env.pop("DUNNING_DATABASE_URL", None)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "api.app:create_app",
        "--factory",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_dashboard_needs_a_manager_or_analyst_key(
    server: str, demo: tuple[Path, Path, str]
) -> None:
    url = f"{server}/v1/campaigns/demo/dashboard"
    assert httpx.get(url).status_code == 401
    shell = httpx.get(url, headers={"accept": "text/html"})
    assert (
        shell.status_code == 200
        and "Paste an API key" in shell.text
        and "plotly-graph-div" not in shell.text
    )
    page = httpx.get(url, headers={"authorization": f"Bearer {demo[2]}"})
    assert page.status_code == 200 and "/static/plotly.min.js" in page.text
    assert httpx.get(f"{server}/static/plotly.min.js").status_code == 200


def _browse(url: str, screenshot: Path, charts: int, titles: tuple[str, ...] = ()) -> None:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None, "Chromium is missing: `make browser` installs Debian's chromium"
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            page.wait_for_selector(".plotly-graph-div .main-svg", timeout=30_000)
            page.wait_for_timeout(500)
            graphs = page.locator(".plotly-graph-div")
            assert graphs.count() >= charts
            for i in range(graphs.count()):  # every chart rendered its SVG
                assert graphs.nth(i).locator("svg.main-svg").count() >= 1, f"chart {i} has no SVG"
            drawn = page.locator(".plotly-graph-div .gtitle").all_text_contents()
            for title in titles:  # ...and these charts drew their title and their data
                chart = page.locator(".plotly-graph-div", has_text=title)
                assert any(title in t for t in drawn), (title, drawn)
                assert chart.locator("g.trace").count() >= 1, f"{title}: no trace drawn"
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert errors == [], errors


@pytest.mark.real_clock  # Chromium under libfaketime times out loading any page
def test_dashboard_renders_in_chromium(server: str, demo: tuple[Path, Path, str]) -> None:
    """Served page: the key travels in the URL fragment (never sent, never logged)."""
    _browse(
        f"{server}/v1/campaigns/demo/dashboard#key={demo[2]}",
        ARTIFACTS / "dashboard.png",
        charts=7,
        titles=("Recovery curve", "Allocation per touch"),
    )


@pytest.mark.real_clock  # Chromium under libfaketime times out loading any page
def test_slot_panels_render_in_chromium(send_time_demo: Path) -> None:
    _browse(
        send_time_demo.resolve().as_uri(),
        ARTIFACTS / "dashboard-slots.png",
        charts=9,
        titles=(POSTERIOR_TITLE, SHARES_TITLE),
    )


@pytest.mark.real_clock  # Chromium under libfaketime times out loading any page
def test_simulator_report_renders_in_chromium(tmp_path: Path) -> None:
    import simulations

    scenario = simulations.load_scenario("baseline").with_overrides(days=15, daily_volume=500)
    result = simulations.simulate(scenario, ["thompson", "uniform", "oracle"], reps=2, seed=3)
    report = simulations.write_report(result, tmp_path / "report.html")
    _browse(report.resolve().as_uri(), ARTIFACTS / "simulator-report.png", charts=3)
