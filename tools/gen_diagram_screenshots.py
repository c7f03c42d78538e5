"""Make the screenshots in docs/images/ with archspec's own code, through headless Chromium.

    python tools/gen_diagram_screenshots.py

Needs Debian's `chromium` (`apt-get install -y chromium`) and the `playwright` package (no
browser download: Playwright drives the system Chromium). Writes:

- docs/images/view-resnet50.png: `archspec view specs/resnet50.yaml`, a layer clicked;
- docs/images/diagram-googlenet.png: `archspec diagram specs/googlenet.yaml -o ....html`;
- docs/images/alexnet-to-scale.png: `archspec diagram specs/alexnet.yaml -o ....png --to-scale --rankdir LR`
  (matplotlib, no browser).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from click.testing import CliRunner  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from archspec.cli import main  # noqa: E402
from archspec.view import server  # noqa: E402

IMAGES = ROOT / "docs" / "images"
VIEWPORT = {"width": 1280, "height": 800}


def _diagram(*args: str) -> None:
    result = CliRunner().invoke(main, ["diagram", *args])
    if result.exit_code != 0:
        raise SystemExit(result.output)


def main_() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("needs Chromium: apt-get install -y chromium")
    _diagram(
        str(ROOT / "specs" / "alexnet.yaml"),
        "-o",
        str(IMAGES / "alexnet-to-scale.png"),
        "--to-scale",
        "--rankdir",
        "LR",
    )
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium)
        page = browser.new_page(viewport=VIEWPORT)
        html = Path(tmp) / "googlenet.html"
        _diagram(str(ROOT / "specs" / "googlenet.yaml"), "-o", str(html))
        page.goto(html.as_uri())
        page.locator('#diagram g.node[data-name="inception_3a_5x5"]').click()
        page.screenshot(path=str(IMAGES / "diagram-googlenet.png"))
        httpd, stop_event = server.start(ROOT / "specs" / "resnet50.yaml", port=0)
        try:
            page.goto(server.url(httpd))
            page.wait_for_selector('body[data-version="0"]', state="attached")
            page.locator('#diagram g.node[data-name="conv1_conv"]').click()
            page.screenshot(path=str(IMAGES / "view-resnet50.png"))
        finally:
            server.stop(httpd, stop_event)
        browser.close()
    for name in ("view-resnet50.png", "diagram-googlenet.png", "alexnet-to-scale.png"):
        print(f"wrote docs/images/{name} ({(IMAGES / name).stat().st_size:,} bytes)")


if __name__ == "__main__":
    main_()
