"""Headless Chromium driven over the DevTools protocol on a pipe, to look at our own pages.

Used by the browser tests and scripts/make_screenshots.py to prove a report renders (not blank),
raises no console error, loads nothing from the network and reflows on a phone. The protocol is
spoken over `--remote-debugging-pipe` (NUL-separated JSON on fds 3 and 4), so no websocket
package and no TCP port are needed; one browser serves many page loads.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
         "--remote-debugging-pipe")


def find_chromium() -> str | None:
    """The Chromium executable ($CHROMIUM, else the first on PATH), or None."""
    explicit = os.environ.get("CHROMIUM")
    if explicit and Path(explicit).is_file():
        return explicit
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    pass


@dataclass
class PageLoad:
    """What happened when a page was opened."""

    url: str
    errors: list[str] = field(default_factory=list)     # uncaught exceptions, console.error, CSP
    requests: list[str] = field(default_factory=list)   # every URL the page asked for
    png: bytes | None = None

    @property
    def remote_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(("file:", "data:", "about:"))]


class Chromium:
    """`with Chromium() as browser: load = browser.load(path, width=390)`."""

    def __init__(self, executable: str | None = None, timeout: float = 30.0) -> None:
        self.executable = executable or find_chromium()
        if not self.executable:
            raise BrowserError("no Chromium found (install the `chromium` package or set "
                               "$CHROMIUM)")
        self.timeout = timeout
        self._next_id = 0
        self._buffer = b""
        self._events: list[dict] = []
        self._proc: subprocess.Popen | None = None
        self._profile: str | None = None
        self._session: str | None = None

    # ------------------------------------------------------------------ process and protocol
    def __enter__(self) -> Chromium:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        self._profile = tempfile.mkdtemp(prefix="grader-chromium-")

        def wire_fds() -> None:  # in the child: fds 3 (commands in) and 4 (replies out)
            a = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self._proc = subprocess.Popen(
            [self.executable, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            preexec_fn=wire_fds, close_fds=False, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.call("Target.attachToTarget",
                                  {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                self._send("Browser.close", {}, None)
            except OSError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for fd in (self._to_browser, self._from_browser):
                try:
                    os.close(fd)
                except OSError:
                    pass
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    def _send(self, method: str, params: dict, session: str | None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _receive(self, until, timeout: float | None = None) -> dict:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self._events.append(message)
                if until(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise BrowserError("Chromium closed the DevTools pipe")
                self._buffer += chunk

    def call(self, method: str, params: dict | None = None, *, session: bool = False) -> dict:
        sent = self._send(method, params or {}, self._session if session else None)
        reply = self._receive(lambda m: m.get("id") == sent)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    # ------------------------------------------------------------------ pages
    def load(self, page: str | Path, *, width: int = 1280, height: int = 900,
             mobile: bool = False, media: str = "", screenshot: bool = True,
             full_page: bool = True, max_height: int = 6000, settle: float = 0.15) -> PageLoad:
        """Open a file or URL at a viewport size; collect errors, requests and a screenshot."""
        url = page if isinstance(page, str) and ":" in page[:10] else Path(page).resolve().as_uri()
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
                  session=True)
        self.call("Emulation.setEmulatedMedia", {"media": media}, session=True)
        self._events.clear()
        self.call("Page.navigate", {"url": url}, session=True)
        self._receive(lambda m: m.get("method") == "Page.loadEventFired"
                      and m.get("sessionId") == self._session)
        time.sleep(settle)  # let late console messages arrive
        self.evaluate("0")
        result = PageLoad(url=url)
        for event in self._events:
            result.errors.extend(_error_text(event))
            if event.get("method") == "Network.requestWillBeSent":
                result.requests.append(event["params"]["request"]["url"])
        if screenshot:
            params: dict[str, Any] = {"format": "png"}
            if full_page:
                size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
                params.update(captureBeyondViewport=True,
                              clip={"x": 0, "y": 0, "width": width,
                                    "height": min(max(size["height"], height), max_height),
                                    "scale": 1})
            shot = self.call("Page.captureScreenshot", params, session=True)
            result.png = base64.b64decode(shot["data"])
        return result

    def evaluate(self, expression: str) -> Any:
        reply = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                          session=True)
        if "exceptionDetails" in reply:
            raise BrowserError(f"evaluate failed: {reply['exceptionDetails'].get('text')}")
        return reply.get("result", {}).get("value")

    def pdf(self) -> bytes:
        """The current page printed to PDF (uses the print stylesheet)."""
        reply = self.call("Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True},
                          session=True)
        return base64.b64decode(reply["data"])


def _error_text(event: dict) -> list[str]:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        text = (details.get("exception") or {}).get("description") or details.get("text", "")
        return [f"uncaught: {text}"]
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        values = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
        return [f"console.{params['type']}: {' '.join(values)}"]
    if method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        entry = params["entry"]
        return [f"{entry.get('source', 'log')}: {entry.get('text', '')}"]
    return []


def pixel_variance(png: bytes) -> float:
    """Variance of the grey levels of a screenshot: ~0 for a blank page."""
    from PIL import Image, ImageStat

    with Image.open(io.BytesIO(png)) as image:
        return float(ImageStat.Stat(image.convert("L")).var[0])


def shrink_png(png: bytes, *, max_colours: int = 128) -> bytes:
    """A palette PNG of a screenshot: text and flat colours survive, the size drops ~4x."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        small = image.convert("RGB").quantize(colors=max_colours, method=Image.Quantize.MEDIANCUT,
                                              dither=Image.Dither.NONE)
        out = io.BytesIO()
        small.save(out, format="PNG", optimize=True)
        return out.getvalue()
