"""The part-2 pages in a real browser: Streamlit server + Playwright + Chromium.

    python -m pytest tests/test_e2e_part2.py -q -s

Needs ``/usr/bin/chromium`` (see tests/test_e2e.py). Every new page opens without an
exception; the compute-on-press pages (attribution, grounding) run; a failure row opens
the inspector; the results tables list every Table-1 variant and the paper's rows.
Screenshots of every page go to ``tests/artifacts/screenshots/`` (git-ignored).

The server scans the fixture checkpoints and a folder of run results written here (a
``fake`` collection with every variant). The project's own ``checkpoints/`` is scanned
too, as in real use: with the demo built, the tables page opens on it.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests import dashboard_fixtures, test_e2e
from tests.test_e2e import (IDLE, MAP, PROJECT, TIMEOUT_MS, chart, expect, screenshot, streamlit_server,
                            wait_ready)
from tests.test_tables import write_run
from videoqa_core.config import VARIANTS

# Fixtures the tests take by name, bound here so that pytest finds them in this module
# (imported by name they would read as unused imports).
checkpoints_root = dashboard_fixtures.checkpoints_root
browser, page = test_e2e.browser, test_e2e.page

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ERRORS = '[data-testid="stException"]'
ALERT = '[data-testid="stAlertContentError"]'


@pytest.fixture(scope="module")
def results_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("results")
    for v in VARIANTS:
        write_run(root, f"fake/count/{v}", task="count", value=4.0, slots=8)
        write_run(root, f"fake/action/{v}", task="action", value=0.6)
    write_run(root, "fake/count/Attvt-all-Sv4", task="count", value=4.4, slots=4)
    return root


@pytest.fixture(scope="module")
def server(checkpoints_root, results_root):
    with streamlit_server([checkpoints_root, results_root], "e2e_part2_server.log") as (base, _):
        yield base


def open_page(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(IDLE)
    page.wait_for_selector('[data-testid="stMainBlockContainer"] h1')
    page.wait_for_selector(IDLE)


def no_errors(page) -> None:
    assert page.locator(ERRORS).count() == 0, page.locator(ERRORS).first.text_content()
    assert page.locator(ALERT).count() == 0, page.locator(ALERT).first.text_content()


@pytest.mark.parametrize("path,title", [("attribution", "Attribution"), ("counterfactual", "Counterfactuals"),
                                        ("side-by-side", "Two checkpoints"), ("failures", "Failure browser"),
                                        ("tables", "Results tables")])
def test_every_new_page_renders(server, page, path, title):
    open_page(page, f"{server}/{path}?ckpt=tiny/action/Attvt-all&qid=ACTION7")
    expect(page.locator("h1").filter(has_text=title)).to_have_count(1, timeout=TIMEOUT_MS)
    if path in ("counterfactual", "side-by-side"):
        page.wait_for_selector(MAP)
    no_errors(page)
    screenshot(page, f"part2_{path}")


def test_attribution_computes_and_draws_heat_strips(server, page):
    open_page(page, f"{server}/attribution?ckpt=tiny/count/Attvt-all&qid=COUNT3")
    page.get_by_role("button", name="Compute attributions").click()
    expect(chart(page, "attribution per frame")).to_have_count(1, timeout=TIMEOUT_MS)
    expect(chart(page, "attribution per word")).to_have_count(1, timeout=TIMEOUT_MS)
    wait_ready(page)
    expect(page.get_by_text("IG's convergence delta is", exact=False)).to_be_visible(timeout=TIMEOUT_MS)
    no_errors(page)
    screenshot(page, "part2_attribution_computed")


def test_counterfactual_edit_reruns_live(server, page):
    open_page(page, f"{server}/counterfactual?ckpt=tiny/action/Attvt-all&qid=ACTION7")
    page.wait_for_selector(MAP)
    box = page.get_by_label("Question", exact=True)
    box.fill("what does the object do 5 times ?")
    box.press("Enter")
    page.wait_for_selector(IDLE)
    expect(page.get_by_text("token rows differ", exact=False)).to_have_count(1, timeout=TIMEOUT_MS)
    no_errors(page)
    screenshot(page, "part2_counterfactual_edited")


def test_failure_row_opens_the_inspector(server, page):
    open_page(page, f"{server}/failures?ckpt=tiny/frameqa/Attvt-all")
    outcome = page.locator('[data-testid="stMainBlockContainer"] [data-testid="stRadio"]').filter(has_text="Outcome")
    outcome.get_by_text("all", exact=True).click()        # the tiny model may make no error
    page.wait_for_selector(IDLE)
    first = page.locator('[class*="st-key-open_"]').first          # a keyed widget's container class
    qid = re.search(r"st-key-open_(\S+)", first.get_attribute("class")).group(1)
    first.get_by_role("button").click()
    page.wait_for_selector(f"text=question {qid} ·")
    wait_ready(page)
    assert f"qid={qid}" in page.url
    expect(page.locator("h1").filter(has_text="Inspector")).to_have_count(1, timeout=TIMEOUT_MS)
    screenshot(page, "part2_failures_to_inspector")


def test_grounding_scores_with_an_evidence_file(server, page, tmp_path):
    open_page(page, f"{server}/grounding?ckpt=tiny/count/Attvt-all")
    expect(page.locator(ALERT)).to_contain_text("no evidence.json", timeout=TIMEOUT_MS)
    assert page.locator(ERRORS).count() == 0
    ev = {f"tgif-qa/count/COUNT{v}": {"frames": [0, 1]} for v in range(3, 24, 4)}
    (tmp_path / "evidence.json").write_text(json.dumps(ev))
    box = page.get_by_label("Evidence file")
    box.fill(str(tmp_path / "evidence.json"))
    box.press("Enter")
    page.get_by_role("button", name="Score grounding").click()
    page.wait_for_selector('[data-testid="stDataFrame"]')
    page.wait_for_selector(IDLE)
    no_errors(page)
    screenshot(page, "part2_grounding")


def test_results_tables_list_every_variant_and_the_papers_rows(server, page):
    open_page(page, f"{server}/tables")
    tables = page.locator('[data-testid="stTable"]')
    # Tables 2 and 3 arrive one after the other while the script runs: wait for each
    # (a one-shot read of all tables once Table 2 shows can miss Table 3).
    for method in ("ST-VQA", "Beyond-RNN", "E-VQA", "AMU"):
        expect(tables.filter(has_text=method).filter(has_text="reported in the paper").first).to_be_visible(
            timeout=TIMEOUT_MS)
    page.get_by_role("tab", name="Ablation (Table 1)").click()
    ablation = page.locator('[data-testid="stTable"]').filter(has_text="Mt2v+Mv2t")
    expect(ablation).to_have_count(1, timeout=TIMEOUT_MS)
    for v in VARIANTS:
        expect(ablation.get_by_text(v, exact=True)).to_have_count(1, timeout=TIMEOUT_MS)
    no_errors(page)
    screenshot(page, "part2_tables_ablation")
    page.get_by_role("tab", name="Memory size (Figure 5)").click()
    expect(chart(page, "Count: test mean L2 loss")).to_have_count(1, timeout=TIMEOUT_MS)
    screenshot(page, "part2_tables_memory")


DEMO = PROJECT / "checkpoints" / "demo" / "runs.json"


@pytest.mark.skipif(not DEMO.exists(), reason="the demo is not built (python -m videoqa_core demo)")
@pytest.mark.parametrize("path", ["attribution", "counterfactual", "side-by-side", "failures", "grounding", "tables"])
def test_every_new_page_renders_on_the_demo(server, page, path):
    """No ``ckpt`` in the link: the app opens on the demo's default checkpoint."""
    open_page(page, f"{server}/{path}")
    page.wait_for_url(re.compile(r"ckpt=demo(%2F|/)"))          # the sidebar wrote the link
    if path == "grounding":
        page.get_by_role("button", name="Score grounding").click()
        page.wait_for_selector('[data-testid="stDataFrame"]')
    if path == "counterfactual":
        # the same edits on every question of the split (the default checkpoint: Count)
        page.get_by_role("button", name="Run on the split").click()
        expect(page.get_by_text("A model that uses the order of events").first).to_be_visible(timeout=TIMEOUT_MS)
    if path == "attribution":
        page.get_by_role("button", name="Compute attributions").click()
        expect(chart(page, "attribution per frame")).to_have_count(1, timeout=TIMEOUT_MS)
    if path == "side-by-side":
        # the default (Count) has one checkpoint: the page says where two or more are
        expect(page.get_by_text("Tasks with two or more checkpoints: action (").first).to_be_visible(timeout=TIMEOUT_MS)
        open_page(page, f"{server}/{path}?ckpt=demo/action/Attvt-all")
        # B is the same variant in the spec's reading: what the model switches changed
        expect(page.get_by_text("B: Attvt-all-spec").first).to_be_visible(timeout=TIMEOUT_MS)
    if path == "tables":
        ours = page.locator('[data-testid="stTable"]').filter(has_text="Attvt-all (demo)")
        expect(ours.first).to_be_visible(timeout=TIMEOUT_MS)
        expect(ours.first).to_contain_text("reported in the paper")       # the paper's rows beside the demo's
        expect(ours.first).to_contain_text("Attvt-all-spec (demo)")      # the spec's reading, one row below
        expect(ours.first).to_contain_text("candidates-only (demo)")     # and the blind baselines beside them
    page.wait_for_selector(IDLE)
    no_errors(page)
    screenshot(page, f"part2_demo_{path}")
