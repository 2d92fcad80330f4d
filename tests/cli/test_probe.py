"""``wait_until_up``: the poll every start-up path uses to see an HTTP service answer."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.cli.probe import wait_until_up
from services.cli.redis_process import free_port


class _Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ok" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_returns_once_the_url_answers_200(server: str) -> None:
    wait_until_up(f"{server}/ok", timeout=30)  # raises otherwise


def test_an_answer_other_than_200_is_not_up(server: str) -> None:
    with pytest.raises(RuntimeError, match=r"no answer 200 from .*/busy within 0\.3 s"):
        wait_until_up(f"{server}/busy", timeout=0.3)


def test_nothing_listening_is_not_up() -> None:
    with pytest.raises(RuntimeError, match="within"):
        wait_until_up(f"http://127.0.0.1:{free_port()}/healthz", timeout=0.3)


def test_a_watched_process_that_exited_is_named_with_its_status() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait(30)
    with pytest.raises(RuntimeError, match="ingest exited with status 3"):
        wait_until_up(f"http://127.0.0.1:{free_port()}/healthz", watch={"ingest": proc})
