"""The pages in a real browser: headless Chromium (Debian's package; `make test` installs it)
driven by Playwright, with no browser download. The HTML diagram and the live page of
`archspec view` are rendered, clicked and checked against `archspec summary --format json`;
the view page follows edits of the spec on disk and shows a broken spec's error. Screenshots
go to build/test-artifacts/ (ignored by git)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

import archspec
from archspec.cli import main
from archspec.view import server
from archspec.view.scene import collapsed_at, scene, visible

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (`apt-get install -y chromium`; `make test` installs it)"
)
ARTIFACTS = ROOT / "build" / "test-artifacts"
TIMEOUT_MS = 20000


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A page that records every request it makes and every script error it meets."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    tab.requests, tab.errors = [], []
    tab.on("request", lambda r: tab.requests.append(r.url))
    tab.on("pageerror", lambda e: tab.errors.append(str(e)))
    tab.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    yield tab
    context.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _summary(spec: Path, *args: str) -> dict:
    result = CliRunner().invoke(main, ["summary", str(spec), "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _node_count(page) -> int:
    return page.locator("#diagram g.node").count()


def _wait_count(page, count: int) -> None:
    """Wait for the diagram to have ``count`` boxes (the page's CSP forbids wait_for_function's eval)."""
    for _ in range(TIMEOUT_MS // 50):
        if _node_count(page) == count:
            return
        page.wait_for_timeout(50)
    assert _node_count(page) == count


def _details(page) -> dict[str, str]:
    rows = page.locator("#details table.figures tr")
    return {rows.nth(i).locator("th").inner_text(): rows.nth(i).locator("td").inner_text() for i in range(rows.count())}


def _click_layer(page, name: str) -> dict[str, str]:
    page.locator(f'#diagram g.node[data-name="{name}"]').click()
    page.wait_for_selector(f'#details h2:text-is("{name}")')
    return _details(page)


def _assert_figures(shown: dict[str, str], layer: dict) -> None:
    assert shown["params"] == f"{layer['params']:,}"
    assert shown["MACs"] == f"{layer['macs']:,}"
    assert shown["output shape"] == " x ".join(map(str, layer["output_shape"]))
    assert shown["trainable params"] == f"{layer['trainable_params']:,}"


def test_html_diagram(page, tmp_path):
    spec = ROOT / "specs" / "googlenet.yaml"
    out = tmp_path / "googlenet.html"
    result = CliRunner().invoke(main, ["diagram", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    summary = _summary(spec)
    page.goto(out.as_uri())
    page.wait_for_selector("#diagram svg g.node")
    assert _node_count(page) == summary["layer_count"] + 1  # every layer and the input
    layer = next(x for x in summary["layers"] if x["name"] == "inception_4a_3x3")
    _assert_figures(_click_layer(page, "inception_4a_3x3"), layer)
    _shot(page, "diagram-googlenet")

    page.click("#collapse")  # the browser's collapse rule is the Python one (scene.visible)
    picture = scene(archspec.expand(spec))
    boxes, _ = visible(picture, collapsed_at(picture, 0))
    assert _node_count(page) == len(boxes)
    assert page.locator("#diagram g.group-box").count() == len(collapsed_at(picture, 0))
    page.locator('#diagram g.group-box[data-name="inception_3a"]').click()  # open one again
    members = next(g["layers"] for g in picture["groups"] if g["name"] == "inception_3a")
    assert _node_count(page) == len(boxes) - 1 + members
    _shot(page, "diagram-googlenet-collapsed")

    page.check("#to-scale")
    assert (
        page.locator("#diagram rect.tensor").count() == _node_count(page) - page.locator("#diagram g.group-box").count()
    )
    assert page.requests == [out.as_uri()]  # nothing else was fetched: the page is self-contained
    assert page.errors == []


def test_diagram_shows_fine_tuning_stages(page, tmp_path):
    spec = ROOT / "specs" / "transfer" / "vgg16_finetune.yaml"
    out = tmp_path / "ft.html"
    assert CliRunner().invoke(main, ["diagram", str(spec), "-o", str(out)]).exit_code == 0
    page.goto(out.as_uri())
    page.wait_for_selector("#diagram svg g.node")
    summary = _summary(spec)
    frozen = sum(1 for x in summary["layers"] if not x["trainable"])
    assert page.locator("#diagram g.node.frozen").count() == frozen > 0
    page.select_option("#stage", "1")  # stage 2 unfreezes block5
    stage2 = sum(1 for n in scene(archspec.expand(spec))["nodes"] if n["stages"] and not n["stages"][1])
    assert page.locator("#diagram g.node.frozen").count() == stage2 < frozen
    _shot(page, "diagram-vgg16-finetune-stage2")
    assert page.errors == []


def test_view_follows_edits(page, tmp_path):
    spec = tmp_path / "resnet50.yaml"
    # without its pinned figures (`expect:`), which the edit below changes on purpose
    text = (ROOT / "specs" / "resnet50.yaml").read_text().split("\nexpect:")[0] + "\n"
    spec.write_text(text)
    httpd, stop_event = server.start(spec, port=0)
    try:
        page.goto(server.url(httpd))
        page.wait_for_selector('body[data-version="0"]', state="attached")
        summary = _summary(spec)
        assert _node_count(page) == summary["layer_count"] + 1
        conv = next(x for x in summary["layers"] if x["name"] == "conv1_conv")
        _assert_figures(_click_layer(page, "conv1_conv"), conv)
        assert page.locator("#details .source .lineno").inner_text() == "line 22"
        assert page.locator("#details .source code").inner_text() == text.splitlines()[21]
        _shot(page, "view-resnet50")

        spec.write_text(text.replace("classes: 1000", "classes: 17"))  # saved: the page follows
        page.wait_for_selector('body[data-version="1"]', state="attached")
        edited = _summary(spec)
        predictions = next(x for x in edited["layers"] if x["name"] == "predictions")
        _assert_figures(_click_layer(page, "predictions"), predictions)
        assert page.locator("#totals").inner_text().split(" params")[0].endswith(f"{edited['total_params']:,}")

        spec.write_text(text.replace("{bn: null, epsilon: 1.001e-5, name: conv1_bn}", "{bn: null, epsilonn: 1}"))
        page.wait_for_selector('body[data-version="2"]', state="attached")
        problems = page.locator("#problems")
        assert problems.is_visible() and "line 23" in problems.inner_text()
        assert "epsilonn" in problems.inner_text() and page.get_attribute("body", "data-ok") == "false"
        assert _node_count(page) == summary["layer_count"] + 1  # the last good picture stays
        _shot(page, "view-resnet50-broken")

        page.select_option("#variant", "notop")  # a control of the page, as --variant is
        spec.write_text(text)
        page.wait_for_selector('body[data-version="3"][data-ok="true"]', state="attached")
        notop = _summary(spec, "--variant", "notop")
        _wait_count(page, notop["layer_count"] + 1)
        page.fill("#sets", "classes=5")
        page.select_option("#variant", "")
        page.click("#apply")
        page.wait_for_selector('#diagram g.node[data-name="predictions"]')
        assert _click_layer(page, "predictions")["output shape"] == "5"
        assert page.errors == []
        assert all(url.startswith(server.url(httpd)) for url in page.requests)
    finally:
        server.stop(httpd, stop_event)
