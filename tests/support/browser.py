"""A real headless browser for tests: Debian's chromium, driven over the Chrome DevTools
Protocol. It loads a page, waits for it to finish, and reports what a person's browser would
have complained about (console errors, uncaught exceptions, images that did not decode), every
network request the page made, and a full-page screenshot.

`make chromium` installs the package where it is missing (as `make postgres` does PostgreSQL).
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from websockets.sync.client import connect

BINARIES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root in CI containers
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
)
IMAGES_JS = """JSON.stringify(Array.from(document.images).map(i => ({
    alt: i.alt, complete: i.complete, width: i.naturalWidth})))"""


def chromium_binary() -> str | None:
    return next((path for name in BINARIES if (path := shutil.which(name))), None)


@dataclass
class PageVisit:
    url: str
    console: list[dict] = field(default_factory=list)  # every console message, any level
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    text: str = ""
    screenshot: bytes = b""

    @property
    def errors(self) -> list[str]:
        """What a developer console would show in red."""
        logged = [f"{m['source']}: {m['text']}" for m in self.console if m["level"] == "error"]
        return logged + self.exceptions + [f"request failed: {r}" for r in self.failed_requests]


class Chromium:
    """One headless chromium process; `visit` opens a URL in its page and reports on it."""

    def __init__(self, width: int = 1280, height: int = 900):
        binary = chromium_binary()
        if binary is None:
            raise RuntimeError("no chromium on PATH: run `make chromium`")
        self.profile = Path(tempfile.mkdtemp(prefix="nextsale-chromium-"))
        self.process = subprocess.Popen(
            [
                binary,
                *FLAGS,
                f"--window-size={width},{height}",
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port = self._devtools_port()
        pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(p for p in pages if p["type"] == "page")
        self.socket = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    def _devtools_port(self, timeout: float = 30) -> int:
        active = self.profile / "DevToolsActivePort"  # chromium writes its chosen port here
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            if active.exists() and active.read_text().strip():
                return int(active.read_text().split()[0])
            time.sleep(0.1)
        raise TimeoutError("chromium did not open its DevTools port")

    def send(self, method: str, **params) -> dict:
        message_id = next(self.ids)
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    self.events.remove(event)
                    return event
            self.events.append(json.loads(self.socket.recv(timeout=deadline - time.monotonic())))
        raise TimeoutError(f"no {method} within {timeout}s")

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def visit(self, url: str, settle_seconds: float = 0.5) -> PageVisit:
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        time.sleep(settle_seconds)  # late console messages after load
        visit = PageVisit(url)
        visit.images = json.loads(self.evaluate(IMAGES_JS))
        visit.text = self.evaluate("document.body.innerText")
        metrics = self.send("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.send(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={
                "x": 0,
                "y": 0,
                "width": metrics["width"],
                "height": metrics["height"],
                "scale": 1,
            },
        )
        visit.screenshot = base64.b64decode(shot["data"])
        self._collect(visit)
        return visit

    def _collect(self, visit: PageVisit) -> None:
        for event in self.events:
            params = event.get("params", {})
            match event.get("method"):
                case "Runtime.consoleAPICalled":
                    text = " ".join(
                        str(a.get("value", a.get("description", ""))) for a in params["args"]
                    )
                    level = "error" if params["type"] in ("error", "assert") else params["type"]
                    visit.console.append({"level": level, "source": "console", "text": text})
                case "Log.entryAdded":
                    entry = params["entry"]
                    visit.console.append(
                        {"level": entry["level"], "source": entry["source"], "text": entry["text"]}
                    )
                case "Runtime.exceptionThrown":
                    details = params["exceptionDetails"]
                    visit.exceptions.append(
                        details.get("exception", {}).get("description") or details["text"]
                    )
                case "Network.requestWillBeSent":
                    visit.requests.append(params["request"]["url"])
                case "Network.loadingFailed":
                    visit.failed_requests.append(params.get("errorText", "unknown error"))
        self.events.clear()

    def close(self) -> None:
        try:
            self.socket.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
