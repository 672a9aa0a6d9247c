"""The example project in headless Chromium: the page keeps its media while S3 fails, gets its copies back, and in
redirect mode the same links move to Azure without a page reload.

Runs the demo exactly as ``make demo`` does (its own emulators behind fault proxies, and its task worker), breaks
S3 from the status panel, and checks in the browser that every image loaded and every video can play, and from
which cloud. A second demo runs in redirect mode (``make demo ARGS="--url-mode redirect"``) for the redirect test.
Screenshots of each state go to .artifacts/screenshots/ (ignored by git), or to $MULTICLOUD_SCREENSHOTS_DIR:
``make screenshots`` points it at example_project/screenshots/ to refresh the committed ones.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .emulators import ROOT, free_port

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(os.environ.get("MULTICLOUD_SCREENSHOTS_DIR") or ROOT / ".artifacts" / "screenshots").resolve()
SAMPLE_VIDEO = ROOT / "example_project" / "sample_media" / "meeting.webm"
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
# Every image and video of the page loads its link again, without a page reload: what a player does on a retry.
RELOAD_MEDIA = """async () => {
  const settled = (element, ok) => new Promise(resolve => {
    const timer = setTimeout(() => resolve('timeout'), 20000);
    element.addEventListener(ok, () => { clearTimeout(timer); resolve('ok'); }, {once: true});
    element.addEventListener('error', () => { clearTimeout(timer); resolve('error'); }, {once: true});
  });
  const loads = [];
  for (const image of document.querySelectorAll('img')) {
    loads.push(settled(image, 'load'));
    image.src = image.getAttribute('src');
  }
  for (const video of document.querySelectorAll('video')) {
    loads.push(settled(video, 'loadeddata'));
    video.load();
  }
  return await Promise.all(loads);
}"""


class Demo:
    """``example_project/demo.py`` in a subprocess, as ``make demo`` runs it; its output is kept in ``lines``."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "example_project" / "demo.py"),
                "--port",
                str(self.port),
                "--workdir",
                str(workdir),
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.password = ""
        try:
            while "The demo is at" not in (line := self._new.get(timeout=90)):
                pass
            while "password" not in line:
                line = self._new.get(timeout=10)
        except queue.Empty:
            self.stop()
            pytest.fail("the demo did not start:\n" + "".join(self.lines))
        self.password = re.search(r"password (\S+)", line).group(1)  # type: ignore[union-attr]

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self.lines.append(line)
            self._new.put(line)

    def stop(self) -> None:
        self.process.terminate()  # as Ctrl-C: the demo stops its worker, proxies and emulators
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    started = Demo(tmp_path_factory.mktemp("demo"))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def demo_url(demo: Demo) -> str:
    return demo.url


@pytest.fixture(scope="module")
def redirect_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    started = Demo(tmp_path_factory.mktemp("redirect-demo"), "--url-mode", "redirect")
    yield started
    started.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not shutil.which(chromium):
        pytest.fail("Chromium is not installed: Debian's chromium package (`make test` installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser, demo_url: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(demo_url)
    yield page
    context.close()


def assert_media_served_by(page, cloud: str, screenshot: str) -> None:
    page.reload()
    page.wait_for_function(MEDIA_READY, timeout=30_000)
    clouds = page.eval_on_selector_all("[data-cloud]", "els => els.map(e => e.dataset.cloud)")
    sources = page.eval_on_selector_all("img, video", "els => els.map(e => e.currentSrc || e.src)")
    # At least: two recordings, a screenshot, its thumbnail and its debug video.
    assert len(clouds) >= 5 and clouds == [cloud] * len(clouds), clouds
    if cloud == "azure":
        assert all("sp=r" in src and "sr=b" in src and "sig=" in src for src in sources), sources
    else:
        assert all("X-Amz-Signature=" in src for src in sources), sources
    thumbnail = page.eval_on_selector(".thumbnail", "t => [t.dataset.cloud, t.naturalWidth, t.naturalHeight]")
    assert thumbnail == [cloud, 160, 90], thumbnail  # sorl-thumbnail's 160x90 crop of the mirrored image
    save_screenshot(page, screenshot)


def save_screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def press(page, button: str) -> None:
    with page.expect_navigation():
        page.click(f"#{button}")


def upload_recording(page, demo_url: str, title: str) -> None:
    page.goto(demo_url + "upload/")
    page.fill("#id_recording-title", title)
    page.set_input_files("#id_recording-file", str(SAMPLE_VIDEO))
    with page.expect_navigation():
        page.click("button[name=recording]")


def recordings(page) -> dict[str, tuple[str, str]]:
    """title -> (the cloud its URL points to, its copies) for every recording on the list page."""
    items = page.eval_on_selector_all(
        ".recording",
        "els => els.map(e => [e.querySelector('strong').innerText, e.querySelector('video').dataset.cloud,"
        " e.querySelector('.copies').innerText])",
    )
    return {title: (cloud, copies) for title, cloud, copies in items}


def missing_in_s3(page) -> str:
    """The backlog's count of recordings missing their S3 copy, as the panel shows it."""
    return page.inner_text("#backlog-meetingsrecordingfile td:nth-child(2)")


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


def test_an_upload_during_an_s3_outage_gets_its_s3_copy_from_the_worker_after_s3_heals(page, demo):
    title = "Uploaded during the outage"
    page.goto(demo.url)
    press(page, "s3-down")
    upload_recording(page, demo.url, title)
    page.wait_for_function(MEDIA_READY, timeout=30_000)
    assert recordings(page)[title] == ("azure", "copies: azure")  # stored on Azure only: the column says so
    assert missing_in_s3(page) == "1"
    save_screenshot(page, "7-uploaded-during-outage.png")

    press(page, "repair-now")  # S3 still down: multicloud_sync exits 1, and the panel says why
    message = page.inner_text("#messages")
    assert "Something is left to do" in message and "clouds down: s3" in message, message

    # The save enqueued its repair: the worker tried at once (S3 down) and tries again 10 s later. Heal S3 and
    # leave it to the worker: the panel polls every file's copies, so no reload is needed to see the S3 copy come.
    press(page, "s3-heal")
    healed = time.monotonic()
    page.wait_for_function(
        """title => [...document.querySelectorAll('.recording')].some(e =>
             e.querySelector('strong').innerText === title
             && e.querySelector('.copies').innerText === 'copies: azure, s3')""",
        arg=title,
        timeout=40_000,
    )
    assert time.monotonic() - healed < 40
    assert any("[worker]" in line and "repair_file" in line and "SUCCESSFUL" in line for line in demo.lines)
    page.reload()
    page.wait_for_function(MEDIA_READY, timeout=30_000)
    assert recordings(page)[title] == ("s3", "copies: azure, s3")  # served from S3 again
    assert recordings(page)["Weekly sync"] == ("s3", "copies: azure, s3")
    assert missing_in_s3(page) == "0" and page.inner_text("#missing-replicas") == "0"
    save_screenshot(page, "8-repaired-by-the-worker.png")


def backlog_counts(page) -> list[str]:
    return page.eval_on_selector_all("#backlog td:not(:first-child), #backlog span", "els => els.map(e => e.innerText)")


def test_the_admin_action_and_the_repair_button_copy_what_an_outage_left_missing(page, demo):
    """Faster than the worker's next try (10 s after its first, during the outage): the admin's action on selected
    rows, and the panel's "repair now" (manage.py multicloud_sync), which also fills the column of the row from
    before the column existed. (On a machine so slow that the worker's retry came first, the copy it made is
    accepted: the repairs must then find every copy in place.)"""
    admin = page.context.new_page()
    admin.goto(demo.url + "admin/login/?next=/admin/")
    admin.fill("#id_username", "demo")
    admin.fill("#id_password", demo.password)
    with admin.expect_navigation():
        admin.click("input[type=submit]")

    page.goto(demo.url)
    press(page, "s3-down")
    upload_recording(page, demo.url, "Repaired from the admin")
    upload_recording(page, demo.url, "Repaired by the button")
    press(page, "s3-heal")

    admin.goto(demo.url + "admin/meetings/recording/?mirror_copies=missing_s3")  # MirrorLocationsFilter
    listed = admin.eval_on_selector_all("#result_list tbody th a", "links => links.map(a => a.innerText)")
    # Each upload is listed until someone copies it; the worker may get there first (its first try may come just
    # after the heal): then its row is simply not missing anything any more.
    assert set(listed) <= {"Repaired by the button", "Repaired from the admin"}, listed
    save_screenshot(admin, "9-admin-missing-s3.png")
    if "Repaired from the admin" not in listed:  # the worker came first: the row is on the unfiltered list
        admin.goto(demo.url + "admin/meetings/recording/")
    admin.locator("#result_list tbody tr", has_text="Repaired from the admin").locator("input.action-select").check()
    admin.select_option("select[name=action]", "repair_mirrors")
    with admin.expect_navigation():
        admin.click("button[name=index]")
    message = admin.inner_text(".messagelist")
    assert "Checked 1 file," in message and "Every copy is in place." in message, message
    assert ("made 1 copy" if "Repaired from the admin" in listed else "made 0 copies") in message, message
    admin.goto(demo.url + "admin/meetings/recording/?mirror_copies=missing_s3")
    left = admin.eval_on_selector_all("#result_list tbody th a", "links => links.map(a => a.innerText)")
    assert "Repaired from the admin" not in left and set(left) <= {"Repaired by the button"}, left
    save_screenshot(admin, "10-admin-action-repaired-one-row.png")
    admin.close()

    press(page, "repair-now")  # the page it lands on is rendered after the repair: fresh URLs, the summary on top
    message = page.inner_text("#messages")
    assert "everything is mirrored" in message and "columns backfilled: 1" in message, message  # old.webm's column
    assert f"copies made: {len(left)} " in message, message  # the button's row, unless the worker got there first
    page.wait_for_function(MEDIA_READY, timeout=30_000)
    shown = recordings(page)
    for title in ("Repaired from the admin", "Repaired by the button", "Recorded before the column existed"):
        assert shown[title] == ("s3", "copies: azure, s3"), (title, shown[title])
    assert set(backlog_counts(page)) == {"0"}  # nothing missing, nothing unknown, nothing recorded
    save_screenshot(page, "11-repair-now.png")


def test_redirect_links_move_to_azure_and_back_without_a_page_reload(browser, redirect_demo):
    """In redirect mode a media URL is a link to the site (/files/...), which answers 302 to a healthy cloud when it
    is loaded. The page is loaded once with S3 up; S3 breaks from another tab; every image and video of the same,
    never reloaded page loads its same link again and gets it from Azure; S3 heals, and they come from S3 again.

    The browser may keep a 302 for up to 60 s (Cache-Control: private, max-age=60; a cached redirect does not fail
    over), and keeps an image it shows in memory: the page's cache is disabled, and the browser's caches are cleared
    before each round of reloads, as they would have expired a minute later."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    landed: dict[str, list[tuple[int, str]]] = {}  # link -> (status, final URL) of each load that followed it

    def on_response(response) -> None:
        request = first = response.request
        while first.redirected_from is not None:
            first = first.redirected_from
        if first is not request and urlsplit(first.url).path.startswith("/files/"):
            landed.setdefault(first.url, []).append((response.status, response.url))

    page.on("response", on_response)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)

    def assert_links_went_to(cloud: str, sources: list[str]) -> None:
        for src in sources:
            assert landed.get(src), f"no load of {src}"
            for status, final in landed[src]:
                assert status in (200, 206), (src, status, final)
                assert ("X-Amz-Signature=" in final) if cloud == "s3" else ("sig=" in final and "sr=b" in final), (
                    cloud,
                    src,
                    final,
                )

    page.goto(redirect_demo.url)
    page.wait_for_function(MEDIA_READY, timeout=30_000)
    sources = page.eval_on_selector_all("img, video", "els => els.map(e => e.src)")
    assert len(sources) >= 5 and all(urlsplit(src).path.startswith("/files/") for src in sources), sources
    assert set(page.eval_on_selector_all("[data-cloud]", "els => els.map(e => e.dataset.cloud)")) == {"redirect"}
    assert_links_went_to("s3", sources)
    page.evaluate("() => { window.loadedOnce = true; }")  # gone if the page were ever reloaded
    page.wait_for_function("() => [...document.querySelectorAll('[data-went]')].every(e => e.dataset.wentTo === 's3')")
    save_screenshot(page, "12-redirect-s3-up.png")

    faults = context.new_page()  # another tab breaks S3: the media page is never reloaded
    faults.goto(redirect_demo.url + "status/")
    press(faults, "s3-down")
    assert "down" in faults.inner_text("#health-s3")

    for cloud, state in (("azure", "down"), ("s3", "up")):
        landed.clear()
        cdp.send("Network.clearBrowserCache")
        results = page.evaluate(RELOAD_MEDIA)
        assert results == ["ok"] * len(sources), results
        assert page.evaluate(MEDIA_READY)
        assert page.eval_on_selector_all("img, video", "els => els.map(e => e.src)") == sources  # the same links
        assert_links_went_to(cloud, sources)
        assert page.evaluate("() => window.loadedOnce") is True and len(navigations) == 1, navigations
        # The same page follows by itself (it polls): S3's state, where links go now, and where each one went.
        page.wait_for_function(
            "([state, cloud]) => document.querySelector('#health-s3').innerText.includes(state)"
            " && document.querySelector('#clicks .cloud').innerText === cloud"
            " && [...document.querySelectorAll('[data-went]')].every(e => e.dataset.wentTo === cloud)",
            arg=[state, cloud],
            timeout=10_000,
        )
        if cloud == "azure":
            save_screenshot(page, "13-redirect-s3-down-same-page.png")
            press(faults, "s3-heal")
        else:
            save_screenshot(page, "14-redirect-s3-healed-same-page.png")
    context.close()
