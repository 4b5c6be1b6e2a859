"""TensorBoard as users see it: a real server on 127.0.0.1 and its dashboards in headless Chromium.

TensorBoard is kerasdl's user interface, so what a run writes is checked the
way a user meets it: `tensorboard_server(logdir)` starts the real
`tensorboard` on a free local port and waits until it answers;
`get_json(url, path)` reads its data API (the same JSON the dashboards
fetch); `Browser` opens a dashboard in Debian's Chromium through Playwright
(the system browser: nothing is downloaded) and reads the rendered page, shadow
DOM included: the text a user can read, the colours of the lines of each
Custom Scalars chart, how much each image is scaled on screen.
`screenshots(logdir, out_dir)` saves one PNG per dashboard; `kerasdl
screenshots` and `make screenshots` are built on it.

Playwright is imported only when a browser is opened; without it, or without
Chromium, `BrowserMissingError` says what to install.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DASHBOARDS = ("timeseries", "custom_scalars", "images", "text", "hparams", "histograms", "projector")
VIEWPORT = {"width": 1280, "height": 900}

# Every element of the page, across shadow roots (TensorBoard's Polymer dashboards live in them).
_DEEP = """
function deep(node, visit) {
  visit(node);
  const kids = node.shadowRoot ? [...node.shadowRoot.children, ...node.children] : [...(node.children || [])];
  for (const kid of kids) deep(kid, visit);
}
function deepText(node) {
  const parts = [];
  function walk(n) {
    if (n.nodeType === Node.TEXT_NODE) { parts.push(n.textContent); return; }
    if (n.nodeType !== Node.ELEMENT_NODE && n.nodeType !== Node.DOCUMENT_FRAGMENT_NODE) return;
    const tag = n.tagName ? n.tagName.toLowerCase() : '';
    if (tag === 'style' || tag === 'script') return;
    if (n.shadowRoot) walk(n.shadowRoot);
    for (const child of n.childNodes) walk(child);
  }
  walk(node);
  return parts.join(' ').replace(/\\s+/g, ' ').trim();
}
"""
_CUSTOM_SCALAR_CHARTS = (
    "() => {"
    + _DEEP
    + """
  const charts = [];
  deep(document.documentElement, (card) => {
    if (!card.tagName || card.tagName.toLowerCase() !== 'tf-custom-scalar-multi-line-chart-card') return;
    const strokes = [];
    deep(card, (el) => {
      const classes = (el.getAttribute && el.getAttribute('class') || '').split(' ');
      if (el.tagName && el.tagName.toLowerCase() === 'path' && classes.includes('line')) {
        strokes.push(getComputedStyle(el).stroke);
      }
    });
    charts.push({text: deepText(card), strokes: strokes});
  });
  return charts;
}
"""
)
_IMAGES = (
    "() => {"
    + _DEEP
    + """
  const images = [];
  deep(document.documentElement, (el) => {
    if (el.tagName && el.tagName.toLowerCase() === 'img' && el.naturalWidth > 0) {
      images.push({src: el.getAttribute('src'), natural: [el.naturalWidth, el.naturalHeight],
                   shown: [el.clientWidth, el.clientHeight]});
    }
  });
  return images;
}
"""
)
_PAGE_TEXT = "() => {" + _DEEP + "return deepText(document.documentElement); }"


class BrowserMissingError(RuntimeError):
    """Playwright or Chromium is not installed; the message says how to install them."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str, path: str, timeout: float = 30, **params: Any) -> Any:
    """GET `url/path?params` from TensorBoard's data API, decoded."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{url}/{path.lstrip('/')}{query}", timeout=timeout) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def tensorboard_server(logdir: str | os.PathLike, timeout: float = 90) -> Iterator[str]:
    """A `tensorboard` process serving `logdir` on a free port of 127.0.0.1; yields its URL.

    Waits until the data API lists at least one run (TensorBoard loads event
    files in the background) and stops the process on exit.

    Raises:
        TimeoutError: the server did not list a run within `timeout` seconds
            (its output is in the message).
    """
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1"]
    process = subprocess.Popen([*command, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if get_json(url, "data/runs", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise TimeoutError(
                    f"tensorboard did not serve {logdir} within {timeout:g} s:\n{log.read()[-2000:]}"
                )
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def chromium_path() -> str:
    """Debian's Chromium (or `$KERASDL_CHROMIUM`)."""
    found = os.environ.get("KERASDL_CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    if not found:
        raise BrowserMissingError(
            "Chromium is not installed: `apt-get install chromium` (Debian), or set KERASDL_CHROMIUM "
            "to a Chromium or Chrome executable"
        )
    return found


@dataclass(frozen=True)
class CustomScalarChart:
    """One chart of the Custom Scalars dashboard as drawn: its visible text and its lines' colours."""

    text: str
    strokes: tuple[str, ...]

    @property
    def colours(self) -> set[str]:
        return set(self.strokes)


class Browser:
    """Headless Chromium through Playwright, one fresh page per dashboard.

    Use as a context manager:

        with tensorboard_server("logs/mismatch") as url, Browser() as browser:
            page = browser.open(url, "custom_scalars")
            charts = browser.custom_scalar_charts(page)
    """

    def __init__(self, settle_ms: int = 6000):
        self.settle_ms = settle_ms
        self._playwright = None
        self._browser = None

    def __enter__(self) -> Browser:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as error:
            raise BrowserMissingError("Playwright is not installed: `pip install playwright`") from error
        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        return self

    def __exit__(self, *exc) -> None:
        if self._browser is not None:
            self._browser.close()
        if self._playwright is not None:
            self._playwright.stop()

    def open(self, url: str, dashboard: str, query: str = ""):
        """A new page showing `dashboard` (e.g. "custom_scalars"), once it has drawn."""
        page = self._browser.new_page(viewport=VIEWPORT)
        page.goto(f"{url}/{query}#{dashboard}")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(self.settle_ms)  # charts draw after their data arrives
        return page

    @staticmethod
    def text(page) -> str:
        """Every text a user could read on the page, shadow DOM and frames (the Projector's) included."""
        return " ".join(frame.evaluate(_PAGE_TEXT) for frame in page.frames)

    @staticmethod
    def custom_scalar_charts(page) -> list[CustomScalarChart]:
        return [
            CustomScalarChart(c["text"], tuple(c["strokes"])) for c in page.evaluate(_CUSTOM_SCALAR_CHARTS)
        ]

    @staticmethod
    def image_scales(page) -> list[tuple[str, float]]:
        """(image URL, shown width / natural width) of every loaded image: below 1, it is shrunk."""
        return [(i["src"], i["shown"][0] / i["natural"][0]) for i in page.evaluate(_IMAGES)]


def screenshots(
    logdir: str | os.PathLike, out_dir: str | os.PathLike, dashboards: Sequence[str] = DASHBOARDS
) -> list[Path]:
    """One full-page PNG per dashboard of TensorBoard on `logdir`, as `<out_dir>/<dashboard>.png`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with tensorboard_server(logdir) as url, Browser() as browser:
        for dashboard in dashboards:
            page = browser.open(url, dashboard)
            path = out / f"{dashboard}.png"
            page.screenshot(path=str(path), full_page=True)
            page.close()
            paths.append(path)
    return paths
