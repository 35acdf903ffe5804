"""report.html as a reader sees it: rendered by headless Chromium (Debian's `chromium`, installed by
this test's setup when missing) at 1400 x 900, the verdict is the first heading and ends within the
first screen, no image is wider than the page, and the page stays short."""
from __future__ import annotations

import pytest

import search_spaces
from browser import ensure_chromium, measure, screenshot
from reports import write_report
from synthetic_study import make_study

WIDTH, HEIGHT = 1400, 900
MAX_PAGE_HEIGHT = 16_000  # px for 3 tasks x 14 optimizers; per-task detail sits in closed <details>


@pytest.fixture(scope="session")
def chromium():
    path, why = ensure_chromium()
    if not path:
        pytest.skip(f"headless Chromium unavailable: {why}")
    return path


@pytest.fixture(scope="module")
def page(chromium, tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    study = make_study(root / "s", tasks=("cifar10", "digits", "glue-cola"), optimizers=tuple(search_spaces.names()),
                       n_trials=6, iid_trials=6, seeds=2, missing=(("glue-cola", "sepnorm"),), partial=(("cifar10", "lion"),))
    files = write_report(study, log=lambda m: None)
    return measure(chromium, files["report.html"], root, WIDTH, HEIGHT), files, root


def test_verdict_is_the_first_heading_and_fits_the_first_screen(page):
    m, _, _ = page
    assert m["headings"][0]["tag"] == "H1" and m["headings"][0]["text"] == "Verdict"
    assert m["first_main_tag"] == "H1"
    assert m["verdict_bottom"] is not None and m["verdict_bottom"] <= HEIGHT, m["verdict_bottom"]  # next section starts on screen 1


def test_no_image_is_wider_than_the_page(page):
    m, _, _ = page
    assert m["img_right"], "no visible image"
    assert max(m["img_right"]) <= m["viewport"]
    assert m["page_width"] <= m["viewport"]  # nothing scrolls sideways
    assert all(shown >= 0.95 * min(natural, 1080) for shown, natural in zip(m["img_shown"], m["img_natural"]))  # ~100% zoom


def test_page_height_is_bounded(page):
    m, _, _ = page
    assert 2 * HEIGHT < m["height"] <= MAX_PAGE_HEIGHT, m["height"]


def test_first_screen_screenshot(page, chromium):
    _, files, root = page
    png = screenshot(chromium, files["report.html"], root / "first_screen.png", root, WIDTH, HEIGHT)
    assert png.exists() and png.stat().st_size > 20_000  # a rendered page, not a blank one
