"""The example project in headless Chromium: the page keeps its media while S3 fails, and goes back when it heals.

Runs the demo exactly as ``make demo`` does (its own emulators behind fault proxies), breaks S3 from the status
panel, and checks in the browser that every image loaded and every video can play, and from which cloud.
Screenshots of each state go to .artifacts/screenshots/ (ignored by git), or to $MULTICLOUD_SCREENSHOTS_DIR:
``make screenshots`` points it at example_project/screenshots/ to refresh the committed ones.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .emulators import ROOT, free_port

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(os.environ.get("MULTICLOUD_SCREENSHOTS_DIR") or ROOT / ".artifacts" / "screenshots").resolve()
CHROMIUM_ARGS = [
    "--no-sandbox",  # as root, headless Chromium starts only without its sandbox
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--mute-audio",
]
MEDIA_READY = """() => {
  const images = [...document.querySelectorAll('img')], videos = [...document.querySelectorAll('video')];
  return images.length > 0 && videos.length > 0
    && images.every(i => i.complete && i.naturalWidth > 0)
    && videos.every(v => v.readyState >= 2);
}"""


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "example_project" / "demo.py"),
            "--port",
            str(port),
            "--workdir",
            str(tmp_path_factory.mktemp("demo")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    seen = []
    try:
        while True:
            line = lines.get(timeout=90)
            seen.append(line)
            if "The demo is at" in line:
                break
    except queue.Empty:
        process.kill()
        pytest.fail("the demo did not start:\n" + "".join(seen))
    yield f"http://127.0.0.1:{port}/"
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def page(demo_url: str):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not shutil.which(chromium):
        pytest.fail("Chromium is not installed: Debian's chromium package (`make test` installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(demo_url)
        yield page
        browser.close()


def assert_media_served_by(page, cloud: str, screenshot: str) -> None:
    page.reload()
    page.wait_for_function(MEDIA_READY, timeout=30_000)
    clouds = page.eval_on_selector_all("[data-cloud]", "els => els.map(e => e.dataset.cloud)")
    sources = page.eval_on_selector_all("img, video", "els => els.map(e => e.currentSrc || e.src)")
    assert clouds == [cloud] * 4, clouds  # two recordings, a screenshot and its debug video
    if cloud == "azure":
        assert all("sp=r" in src and "sr=b" in src and "sig=" in src for src in sources), sources
    else:
        assert all("X-Amz-Signature=" in src for src in sources), sources
    save_screenshot(page, screenshot)


def save_screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def press(page, button: str) -> None:
    with page.expect_navigation():
        page.click(f"#{button}")


def test_the_page_keeps_its_media_while_s3_fails(page):
    assert_media_served_by(page, "s3", "1-both-clouds-up.png")
    assert page.inner_text("#health-s3").startswith("s3\nup") or "up" in page.inner_text("#health-s3")

    press(page, "s3-down")
    assert "down" in page.inner_text("#health-s3")
    assert_media_served_by(page, "azure", "2-s3-down.png")

    press(page, "s3-heal")
    assert_media_served_by(page, "s3", "3-s3-healed.png")

    press(page, "s3-hung")
    assert_media_served_by(page, "azure", "4-s3-hung.png")
    press(page, "s3-heal")

    press(page, "s3-credentials")
    assert_media_served_by(page, "azure", "5-s3-credentials-removed.png")

    press(page, "s3-heal")
    assert_media_served_by(page, "s3", "6-s3-healed-again.png")


def test_an_upload_during_an_s3_outage_is_served_from_azure_after_s3_heals(page, demo_url):
    press(page, "s3-down")
    page.goto(demo_url + "upload/")
    page.fill("#id_recording-title", "Uploaded during the outage")
    page.set_input_files("#id_recording-file", str(ROOT / "example_project" / "sample_media" / "meeting.webm"))
    with page.expect_navigation():
        page.click("button[name=recording]")
    press(page, "s3-heal")
    page.reload()
    page.wait_for_function(MEDIA_READY, timeout=30_000)
    items = page.eval_on_selector_all(
        ".recording",
        "els => els.map(e => [e.querySelector('strong').innerText, e.querySelector('video').dataset.cloud,"
        " e.querySelector('small').innerText])",
    )
    assert ["Uploaded during the outage", "azure", "copies: azure"] in items  # S3 is up, but holds no copy
    assert ["Weekly sync", "s3", "copies: azure, s3"] in items
    save_screenshot(page, "7-uploaded-during-outage.png")
