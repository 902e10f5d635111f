"""A local fake of an OpenAI-compatible chat server (``POST /v1/chat/completions``).

Plain HTTP on loopback (stdlib ``http.server`` in a thread, a free port), so the real ``httpx``
client of ``clinic_app.ai.openai_drafter`` is exercised end to end. Each request is recorded
(path, headers, JSON body). The fields are the controls: what the "model" writes
(``sentences``, or raw ``contents`` such as malformed JSON), a ``refusal`` or
``finish_reason``, ```json ``fenced`` answers, ``failures`` (the next N requests answer
``failure_status``), a fixed ``status`` (401 …) and a ``delay`` longer than the client's timeout.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MALFORMED = '{"sentences": [{"text": "Cough for three days.", "evidence": [0]'  # cut off
REFUSAL = "I'm sorry, but I can't help with that."


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]


@dataclass
class FakeOpenAI:
    url: str = ""  # http://127.0.0.1:<port>/v1, set when served
    sentences: list[dict[str, Any]] = field(default_factory=list)
    contents: list[str] = field(default_factory=list)  # raw answers for the next requests
    refusal: str | None = None
    finish_reason: str = "stop"
    fenced: bool = False
    failures: int = 0  # the next N requests answer failure_status
    failure_status: int = 500
    status: int = 200  # every other request answers this (401 …)
    delay: float = 0.0
    requests: list[Recorded] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)

    def reply(self, *sentences: tuple[str, list[int]]) -> None:
        """The model writes these sentences, with these evidence ids (unchecked)."""
        self.sentences = [{"text": text, "evidence": list(ids)} for text, ids in sentences]

    def reply_malformed(self, times: int = 100) -> None:
        self.contents = [MALFORMED] * times

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) for one request; sleeps ``delay`` first (stopped on shutdown)."""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        with self._lock:
            self.requests.append(Recorded(path, headers, body))
            failing = self.failures > 0
            if failing:
                self.failures -= 1
            content = self.contents.pop(0) if self.contents else None
        if self.delay:
            self._stopping.wait(self.delay)
        if path != "/v1/chat/completions":
            return 404, _error(f"no route {path}", "not_found")
        if failing:
            return self.failure_status, _error("the server is overloaded", "server_error")
        if self.status != 200:
            return self.status, _error("Incorrect API key provided.", "invalid_api_key")
        if self.refusal is not None:
            message: dict[str, Any] = {"role": "assistant", "content": None}
            message["refusal"] = self.refusal
        else:
            if content is None:
                content = json.dumps({"sentences": self.sentences})
            if self.fenced:
                content = f"```json\n{content}\n```"
            message = {"role": "assistant", "content": content, "refusal": None}
        return 200, {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body = fake.answer(self.path, headers, raw)
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout): nothing to answer

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


@contextmanager
def fake_openai(fake: FakeOpenAI | None = None) -> Iterator[FakeOpenAI]:
    """Serve ``fake`` on a free loopback port; yields it with ``url`` set to ``…/v1``."""
    fake = fake or FakeOpenAI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
    )
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield fake
    finally:
        fake._stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
