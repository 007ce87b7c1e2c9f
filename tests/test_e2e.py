"""The dashboard in a real browser: Streamlit server + Playwright + Chromium.

    python -m pytest tests/test_e2e.py -q -s        (-s shows the timing log)

Needs ``/usr/bin/chromium`` (CI: ``apt-get install -y chromium``; Playwright's own browser
download is not used). Opens the app cold, checks that the maps render, drives the step
slider and play and sees the marker move, switches question, follows a deep link,
exports Figure 1, asks about an uploaded clip. Timings (server start, cold start to the
first map, question switch as seen in the browser) are printed and written to
``tests/artifacts/e2e_timings.json``; screenshots of every page go to
``tests/artifacts/screenshots/`` (git-ignored) for a person to look at.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests import dashboard_fixtures
from tests.dashboard_fixtures import write_gifs

# Fixtures the tests take by name, bound here so that pytest finds them in this module
# (imported by name they would read as unused imports).
checkpoints_root, pixel_checkpoint = dashboard_fixtures.checkpoints_root, dashboard_fixtures.pixel_checkpoint

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("browser test skipped: /usr/bin/chromium is absent (install it with `apt-get install -y chromium`)",
                allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api", reason="browser test skipped: playwright is not installed")
expect = playwright.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PROJECT = Path(__file__).resolve().parents[1]
ARTIFACTS = PROJECT / "tests" / "artifacts"
SHOTS = ARTIFACTS / "screenshots"
IDLE = '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]'
# A chart with axes drawn (the app's first run sends an empty chart so that the browser
# loads plotly.js early; it has no axes and does not count).
MAP = '[data-testid="stPlotlyChart"] .main-svg:has(.xaxislayer-above text)'
TIMEOUT_MS = 90_000
TIMINGS: dict[str, float] = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_timing(name: str, seconds: float) -> None:
    TIMINGS[name] = round(seconds, 3)
    print(f"[e2e timing] {name}: {seconds:.2f} s")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "e2e_timings.json").write_text(json.dumps(TIMINGS, indent=2))


@contextlib.contextmanager
def streamlit_server(checkpoint_dirs: list[Path], log_name: str):
    """``streamlit run dashboard/app.py -- --checkpoints ...`` on a free port, until healthy.
    Yields (base URL, start time)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "VIDEOQA_CHECKPOINTS"}
    cmd = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
           "--browser.gatherUsageStats", "false", "--", "--checkpoints", *map(str, checkpoint_dirs)]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / log_name, "w")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if urllib.request.urlopen(f"{base}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.1)
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited ({proc.returncode}); see {log.name}")
        else:
            raise RuntimeError("streamlit did not become healthy within 60 s")
        yield base, t0
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def server(checkpoints_root, pixel_checkpoint):
    with streamlit_server([checkpoints_root, pixel_checkpoint.parents[2]], "e2e_server.log") as (base, t0):
        log_timing("server start to health", time.monotonic() - t0)
        yield {"base": base, "t0": t0}


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    yield pg
    ctx.close()


def wait_ready(page) -> None:
    page.wait_for_selector(IDLE)
    page.wait_for_selector(MAP)


def chart(page, title: str):
    """The plotly chart with a title or a panel title (a subplot title is an annotation)
    that starts with ``title``."""
    return page.locator('[data-testid="stPlotlyChart"]').filter(
        has=page.locator(".gtitle, .annotation-text", has_text=re.compile("^" + re.escape(title))))


def marker(page, title: str, name: str = "step"):
    """The first "step K" (or "word K") label of the current-step marker in that chart."""
    return chart(page, title).locator(".annotation-text", has_text=re.compile(rf"^{name} \d+$")).first


def settle(page) -> None:
    """Until the app is idle, every chart on the page is drawn and the browser has painted."""
    page.wait_for_selector(IDLE)
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
                                       .every(c => c.querySelector('.main-svg'))""")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def screenshot(page, name: str) -> None:
    """Streamlit scrolls inside its own container: a tall viewport captures the page."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    page.set_viewport_size({"width": 1400, "height": 4200})
    page.wait_for_timeout(800)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    page.set_viewport_size(size)


READ = "read weights β  [N×S]"
VISUAL = (READ, "appearance write weights αᵃ", "motion write weights αᵐ", "gates μ", "memory contents: ‖M_t")
TEXTUAL = ("read weights βᵠ", "write weights α  [T×S]", "memory contents: ‖Mᵠ")
ATTENTION = ("video self-attention", "text self-attention", "affinity Sm", "video-to-text", "text-to-video")
# Heatmaps per tab (the gates are areas): a drawn heatmap is an <image> in its layer.
HEATMAPS = {"Visual memory": 4, "Textual memory": 3, "Attention": 5}


def read_map(page):
    return chart(page, READ).locator(".heatmaplayer image")


def test_cold_start_maps_and_the_step_marker(server, page):
    t = time.monotonic()
    page.goto(server["base"] + "/?ckpt=tiny/action/Attvt-all")
    read_map(page).first.wait_for()
    log_timing("cold start: browser open to first map (model loaded in this session)", time.monotonic() - t)
    log_timing("cold start: server launch to first map", time.monotonic() - server["t0"])
    settle(page)
    log_timing("cold start: browser open until every chart is drawn", time.monotonic() - t)
    for title in (*VISUAL, "frames and their attention", "candidates"):
        expect(chart(page, title)).to_have_count(1)
    expect(read_map(page)).to_have_count(HEATMAPS["Visual memory"])
    expect(page.locator('[data-testid="stImage"] img')).to_have_count(1)        # the current frame, large
    expect(page.get_by_text("frame 0 (step 0)")).to_have_count(1)
    assert marker(page, READ).text_content() == "step 0"
    screenshot(page, "inspector_visual_memory")

    slider = page.get_by_role("slider", name="Step (frame)")
    slider.focus()
    t = time.monotonic()
    slider.press("ArrowRight")
    expect(marker(page, READ)).to_have_text("step 1")
    settle(page)
    log_timing("step move until the marker shows", time.monotonic() - t)
    slider.press("ArrowRight")
    expect(marker(page, READ)).to_have_text("step 2")
    page.get_by_role("button", name="next ▶").click()
    expect(marker(page, READ)).to_have_text("step 3")
    expect(page.get_by_text("frame 3 (step 3)")).to_have_count(1)
    assert "step=3" in page.url

    page.get_by_role("tab", name="Attention").click()
    for title in ATTENTION:
        expect(chart(page, title)).to_have_count(1)
    expect(marker(page, "video self-attention")).to_have_text("step 3")
    expect(marker(page, "text self-attention", "word")).to_have_text("word 0")
    settle(page)
    screenshot(page, "inspector_attention")
    page.get_by_role("tab", name="Textual memory").click()
    expect(chart(page, "read weights βᵠ")).to_have_count(1)
    settle(page)
    screenshot(page, "inspector_textual_memory")


@pytest.mark.parametrize("ckpt", ["tiny/action/Attvt-all", "tiny/count/Attvt-all", "tiny/frameqa/Attvt-all"])
def test_every_map_renders_for_each_kind_of_question(server, page, ckpt):
    """Multiple choice, count and open-ended: every panel of every tab is drawn, titled."""
    page.goto(server["base"] + f"/?ckpt={ckpt}")
    settle(page)
    for tab, titles in (("Visual memory", VISUAL), ("Textual memory", TEXTUAL), ("Attention", ATTENTION)):
        page.get_by_role("tab", name=tab).click()
        for title in titles:
            expect(chart(page, title)).to_have_count(1)
        expect(chart(page, titles[0]).locator(".heatmaplayer image")).to_have_count(HEATMAPS[tab])
        expect(chart(page, titles[0]).locator('text[class^="x"][class$="title"]')).not_to_have_count(0)
        settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_play_advances_the_step(server, page):
    page.goto(server["base"] + "/?ckpt=tiny/count/Attvt-all&step=0")
    wait_ready(page)
    page.get_by_text("play", exact=True).click()
    expect(marker(page, READ)).to_have_text(re.compile(r"step [12]"), timeout=20_000)
    page.get_by_text("play", exact=True).click()


def test_switching_question(server, page):
    page.goto(server["base"] + "/?ckpt=tiny/action/Attvt-all")
    wait_ready(page)
    settle(page)
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text="Question (")
    options_seen = []
    for target in ("ACTION7", "ACTION11"):
        box.click()
        option = page.get_by_role("option", name=re.compile(target + " "))
        options_seen.append(option.text_content())
        t = time.monotonic()
        option.click()
        page.wait_for_selector(f'text=question {target} ·')
        settle(page)
        log_timing(f"switch question to {target} (new forward pass) until its maps show", time.monotonic() - t)
    assert all(options_seen)
    expect(chart(page, READ)).to_have_count(1)


def test_deep_link_restores_the_view(server, page):
    page.goto(server["base"] + "/?ckpt=tiny/count/Attvt-all&split=test&qid=COUNT11&step=2")
    wait_ready(page)
    page.wait_for_selector("text=question COUNT11 ·")
    expect(marker(page, READ)).to_have_text("step 2")
    assert page.get_by_role("slider", name="Step (frame)").input_value() == "2"
    screenshot(page, "deep_link_count")


def test_figure_export(server, page, tmp_path):
    page.goto(server["base"] + "/figure?ckpt=tiny/action/Attvt-all&step=1")
    page.wait_for_selector(IDLE)
    page.wait_for_selector('[data-testid="stImage"] img')
    for fmt, magic in (("PNG", b"\x89PNG"), ("PDF", b"%PDF"), ("SVG", b"<?xml")):
        with page.expect_download() as info:
            page.get_by_role("button", name=f"Download {fmt}").click()
        path = tmp_path / info.value.suggested_filename
        info.value.save_as(path)
        assert path.read_bytes().startswith(magic), fmt
        assert path.suffix == "." + fmt.lower()
    screenshot(page, "figure1")


def test_ask_your_own_clip(server, page, tmp_path):
    write_gifs(tmp_path, ["clip"], frames=8)
    page.goto(server["base"] + "/upload?ckpt=count/Attvt-all")
    page.wait_for_selector(IDLE)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(tmp_path / "clip.gif"))
    page.get_by_label("Question", exact=True).fill("how many times does the object jump ?")
    page.get_by_role("button", name="Ask").click()
    page.wait_for_selector(MAP)
    wait_ready(page)
    expect(chart(page, READ)).to_have_count(1)
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "upload")


def test_errors_are_messages_not_tracebacks(server, page, tmp_path):
    (tmp_path / "notes.txt").write_text("not a video")
    page.goto(server["base"] + "/upload?ckpt=count/Attvt-all")
    page.wait_for_selector(IDLE)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(tmp_path / "notes.txt"))
    page.get_by_label("Question", exact=True).fill("how many times does the object jump ?")
    page.get_by_role("button", name="Ask").click()
    expect(page.locator('[data-testid="stAlertContentError"]')).to_contain_text("not a video file")
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "upload_error")
