"""Shared end-to-end fixtures: a real uvicorn server on loopback and the system Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
PASSWORD = "correct horse battery staple"
#: No --disable-gpu: WebGL then runs on Chromium's software renderer, as in the command line's
#: headless Chromium (glutemed.motion.video), so the page and the command line run the pose model
#: on the same backend. With the GPU disabled, Chromium 150 runs it on another backend whose
#: landmarks differ from the command line's by up to 0.11 of the picture.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: (path, body) of every request the e2e server received, to check what a browser sent.
RECEIVED: list[tuple[str, bytes]] = []


class _Recorder:
    """ASGI wrapper that keeps a copy of every request body the server receives."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def recording_receive() -> Any:
            message = await receive()
            if message.get("type") == "http.request":
                chunks.append(message.get("body", b""))
            return message

        try:
            await self.app(scope, recording_receive, send)
        finally:
            RECEIVED.append((scope["path"], b"".join(chunks)))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn

    import glutemed.store as store
    from glutemed.server import Settings, create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'glutemed.sqlite3'}"
    store.create_user(
        "dr.lee",
        PASSWORD,
        role="clinician",
        clinic="Harbour Physio",
        display_name="Dr Lee",
        database_url=url,
    )
    settings = Settings(
        database_url=url,
        environment="test",
        secret_key="e2e-" + "Qm7vT2xP9wL4" * 4,
        cookie_secure=False,
        kb_folder=os.environ.get("GLUTEMED_KB_FOLDER", ""),
    )
    port = _free_port()
    config = uvicorn.Config(
        _Recorder(create_app(settings)),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline:  # pragma: no cover
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium not found on PATH (Debian package 'chromium')")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def login(page: object, server: str) -> None:
    """Log the e2e clinician in and land on the patient list."""
    page.goto(f"{server}/patients")  # type: ignore[attr-defined]
    page.fill("#username", "dr.lee")  # type: ignore[attr-defined]
    page.fill("#password", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
