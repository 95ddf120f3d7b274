"""An Ollama-compatible HTTP server on 127.0.0.1 with scripted behaviours per model, for tests and benchmarks.

It speaks the parts of the Ollama REST API the project uses, with the real server's JSON shapes:
``POST /api/chat``, ``POST /api/generate`` (``stream`` false → one JSON object, true → NDJSON chunks
ending with ``done: true``), ``GET /api/tags``, ``POST /api/embed`` (deterministic unit vectors from
a hash of the text), ``GET /api/version``. An unknown model gets 404 ``{"error": "model '…' not found"}``.

Each model follows a :class:`Behaviour`::

    server = OllamaServer({"llama3.3:70b": Behaviour.clean(answer_fn),
                           "deepseek-r1:32b": Behaviour.think(answer_fn),
                           "flaky": Behaviour.http_500(times=1, then=Behaviour.clean(answer_fn)),
                           "slow": Behaviour.slow(delay_s=0.5)}).start()
    ... server.url, server.calls["llama3.3:70b"], server.max_concurrent ...
    server.stop()

``answer_fn(prompt) -> str`` decides the answer text of a model from the prompt it received (the
last user message for chat). The server counts requests per model (``calls``, every attempt,
failures included), keeps every request body (``requests``) and measures the maximum number of
requests in flight at once (``max_concurrent``), overall and per model.

Hostile servers, for the client's fault tests: ``Behaviour.trickle`` sends the whole response a byte
at a time, ``Behaviour.invalid_utf8`` answers bytes that are not UTF-8, ``Behaviour.huge`` streams an
answer of any size without holding it, and ``Behaviour.die`` kills the server (listener closed,
every open connection reset) on a given call, as a crashed Ollama would. :meth:`OllamaServer.kill`
does the same from a test; ``OllamaServer(port=...)`` restarts a server on the port of one that died.
"""

from __future__ import annotations

import hashlib
import json
import math
import select
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

AnswerFn = Callable[[str], str]


def quoted_text(prompt: str) -> str:
    """The article inside a prompt that quotes it ('…' as in the news seed prompt), else the whole prompt."""
    first, last = prompt.find("'"), prompt.rfind("'")
    return prompt[first + 1:last] if 0 <= first < last else prompt


def default_answer(prompt: str) -> str:
    """A plausible default: '1' when the (quoted) text mentions women/girls, else '2'."""
    low = quoted_text(prompt).lower()
    return "1" if any(w in low for w in ("mujer", "niña", "madre", "embarazada")) else "2"


@dataclass
class Behaviour:
    """How one model answers.

    kind: clean | prose | think | slow | http_500 | drop | custom | trickle | invalid_utf8 | huge | die.
    ``times``: for failing kinds, fail only on the first ``times`` calls, then behave as ``then``
    (None = fail every time). ``delay_s``: sleep before answering (``slow`` sleeps then answers
    ``then`` or clean). ``custom``: ``fn(prompt, call_number) -> str`` returns the answer text, or
    raises :class:`DropConnection` / returns an :class:`HttpError` to fail.
    """

    kind: str = "clean"
    answer: AnswerFn = default_answer
    delay_s: float = 0.0
    times: int | None = None
    then: "Behaviour | None" = None
    status: int = 500
    fn: Callable[[str, int], Any] | None = None

    # -------------------------------------------------------------- constructors
    @classmethod
    def clean(cls, answer: AnswerFn = default_answer, delay_s: float = 0.0) -> "Behaviour":
        """Answers the bare digit, e.g. ``"1"``."""
        return cls("clean", answer, delay_s=delay_s)

    @classmethod
    def prose(cls, answer: AnswerFn = default_answer, delay_s: float = 0.0) -> "Behaviour":
        """Answers with a sentence around the digit: ``"Respuesta: 1"`` / ``"**2**"`` / ``"Sí, hay..."`` (no digit)."""
        return cls("prose", answer, delay_s=delay_s)

    @classmethod
    def think(cls, answer: AnswerFn = default_answer, delay_s: float = 0.0) -> "Behaviour":
        """DeepSeek-R1 style: ``<think>reasoning with numbers 1 and 2</think>\\n\\n1``."""
        return cls("think", answer, delay_s=delay_s)

    @classmethod
    def slow(cls, delay_s: float, times: int | None = None, then: "Behaviour | None" = None,
             answer: AnswerFn = default_answer) -> "Behaviour":
        """Sleeps ``delay_s`` before answering (past a client's timeout the client gives up)."""
        return cls("slow", answer, delay_s=delay_s, times=times, then=then)

    @classmethod
    def http_500(cls, times: int | None = None, then: "Behaviour | None" = None, status: int = 500) -> "Behaviour":
        """Answers HTTP ``status`` with ``{"error": ...}`` (the first ``times`` calls, or always)."""
        return cls("http_500", times=times, then=then, status=status)

    @classmethod
    def drop(cls, times: int | None = None, then: "Behaviour | None" = None) -> "Behaviour":
        """Reads the request and closes the connection without a response."""
        return cls("drop", times=times, then=then)

    @classmethod
    def custom(cls, fn: Callable[[str, int], Any]) -> "Behaviour":
        return cls("custom", fn=fn)

    @classmethod
    def trickle(cls, interval_s: float = 0.05, answer: AnswerFn = default_answer) -> "Behaviour":
        """Sends the whole response (status line, headers, body) one byte every ``interval_s`` seconds."""
        return cls("trickle", answer, delay_s=interval_s)

    @classmethod
    def invalid_utf8(cls, times: int | None = None, then: "Behaviour | None" = None) -> "Behaviour":
        """Answers a well-formed response whose answer text holds bytes that are not UTF-8 (``b"1 \\xff\\xfe"``)."""
        return cls("invalid_utf8", times=times, then=then)

    @classmethod
    def huge(cls, size_bytes: int, times: int | None = None, then: "Behaviour | None" = None) -> "Behaviour":
        """Answers a text of ``size_bytes`` bytes, written piece by piece (the server never holds it)."""
        return cls("huge", times=times, then=then, status=size_bytes)

    @classmethod
    def die(cls, after: int = 0, then: "Behaviour | None" = None) -> "Behaviour":
        """Answers the first ``after`` calls as ``then`` (clean by default); call ``after + 1`` kills the server."""
        return cls("die", times=after, then=then)

    # -------------------------------------------------------------- behaviour
    def respond(self, prompt: str, call_number: int) -> "str | HttpError | RawBody | DropConnection | Slow":
        """The answer text for this call, or a failure to enact (call_number is 1-based, per model)."""
        if self.kind == "die":
            if call_number <= (self.times or 0):
                return (self.then or Behaviour.clean(self.answer)).respond(prompt, call_number)
            return Die()
        failing = self.times is None or call_number <= self.times
        if self.kind in ("http_500", "drop", "slow", "invalid_utf8", "huge") and not failing:
            return (self.then or Behaviour.clean(self.answer)).respond(prompt, call_number - (self.times or 0))
        if self.kind == "trickle":
            return Trickle(self.answer(prompt), self.delay_s)
        if self.kind == "invalid_utf8":
            return RawAnswer(self.answer(prompt).encode() + b" \xff\xfe\xc3(")
        if self.kind == "huge":
            return Huge(self.status)
        if self.delay_s:
            inner = Behaviour(self.kind if self.kind != "slow" else "clean", self.answer, 0.0, self.times,
                              self.then, self.status, self.fn)
            return Slow(self.delay_s, inner.respond(prompt, call_number))
        if self.kind == "http_500":
            return HttpError(self.status, "model runner has unexpectedly stopped (scripted)")
        if self.kind == "drop":
            return DropConnection()
        if self.kind == "custom":
            try:
                return self.fn(prompt, call_number)
            except DropConnection as exc:
                return exc
        digit = self.answer(prompt)
        if self.kind == "prose":
            # rotate through the phrasings a chatty model uses (fixed per prompt, so reruns agree);
            # one in three has no digit at all
            style = int(hashlib.md5(prompt.encode()).hexdigest(), 16) % 3
            if style == 1:
                return f"Respuesta: {digit}"
            if style == 2:
                return f"**{digit}**"
            return "El texto habla de migración, pero no puedo determinarlo con certeza."
        if self.kind == "think":
            return (f"<think>\nEl texto menciona personas migrantes. Si hay mujeres uso 1, si no 2. "
                    f"Reviso de nuevo.\n</think>\n\n{digit}")
        return digit


@dataclass
class Slow:
    """Return from a custom behaviour to answer ``outcome`` after ``delay_s`` seconds.

    The server waits watching the connection: when the client gives up (its timeout) the request
    ends there, as a real Ollama server cancels a generation whose client has gone.
    """

    delay_s: float
    outcome: "str | HttpError | DropConnection"


@dataclass
class Trickle:
    """The answer ``text``, the whole response written one byte every ``interval_s`` seconds."""

    text: str
    interval_s: float


@dataclass
class RawAnswer:
    """An answer whose text is these bytes, put as they are inside the JSON (e.g. bytes that are not UTF-8)."""

    content: bytes


@dataclass
class Huge:
    """An answer text of ``size`` bytes ("a" repeated), written piece by piece."""

    size: int


class Die:
    """The server dies on this call: listener closed, every open connection reset, nothing answered."""


@dataclass
class RawBody:
    """Return from a custom behaviour to send these bytes as the body (a broken proxy, a truncated answer)."""

    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass
class HttpError:
    status: int
    message: str


class DropConnection(Exception):
    """Raise (custom behaviours) or return to close the connection without answering."""


@dataclass
class _Stats:
    calls: Counter = field(default_factory=Counter)
    in_flight: int = 0
    max_concurrent: int = 0
    in_flight_by_model: Counter = field(default_factory=Counter)
    max_concurrent_by_model: Counter = field(default_factory=Counter)
    requests: list = field(default_factory=list)


def embed_vector(text: str, dims: int = 16) -> list[float]:
    """Deterministic unit vector of ``text`` (sha256 bytes → floats), same text → same vector."""
    digest = b""
    counter = 0
    while len(digest) < dims:
        digest += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    vec = [(b - 127.5) / 127.5 for b in digest[:dims]]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


class OllamaServer:
    """Threaded Ollama-compatible server on 127.0.0.1 (ephemeral port). Use as a context manager or start/stop."""

    def __init__(self, models: dict[str, Behaviour] | None = None, embed_dims: int = 16,
                 stream_chunk_chars: int = 4, port: int = 0) -> None:
        self.models: dict[str, Behaviour] = dict(models or {})
        self.port = port
        self.killed = False
        self._conns: set[socket.socket] = set()
        self.embed_dims = embed_dims
        self.stream_chunk_chars = stream_chunk_chars
        self._stats = _Stats()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle
    def start(self) -> "OllamaServer":
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._httpd.server_address[1]
        self.killed = False
        self._httpd.daemon_threads = True
        self._httpd.request_queue_size = 128
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="ollama-loopback", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            httpd, self._httpd = self._httpd, None
            thread, self._thread = self._thread, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def kill(self) -> None:
        """Die as a crashed server does: stop listening (new connections are refused) and reset every
        open connection (requests in flight get no answer). Safe to call from a request handler."""
        httpd = self._httpd
        with self._lock:
            self.killed = True
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if httpd is not None:
            # the serve loop stops and the listener closes (connections refused from then on); a
            # connection accepted meanwhile is reset at once (``setup``)
            threading.Thread(target=self.stop, name="ollama-loopback-kill", daemon=True).start()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def __enter__(self) -> "OllamaServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (still known after :meth:`kill`, to restart a server on the port)."""
        if not self.port:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self.port}"

    # -------------------------------------------------------------- scripting and counters
    def add_model(self, name: str, behaviour: Behaviour) -> None:
        with self._lock:
            self.models[name] = behaviour

    def reset_counts(self) -> None:
        with self._lock:
            self._stats = _Stats()

    @property
    def calls(self) -> Counter:
        """Requests received per model (every attempt, failures included)."""
        with self._lock:
            return Counter(self._stats.calls)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def max_concurrent(self) -> int:
        """Most requests in flight at once (all models) since start/reset."""
        with self._lock:
            return self._stats.max_concurrent

    @property
    def max_concurrent_by_model(self) -> Counter:
        with self._lock:
            return Counter(self._stats.max_concurrent_by_model)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every model request received: ``{"path", "model", "body"}``."""
        with self._lock:
            return list(self._stats.requests)

    def _enter(self, model: str, path: str, body: dict) -> int:
        with self._lock:
            s = self._stats
            s.calls[model] += 1
            s.in_flight += 1
            s.max_concurrent = max(s.max_concurrent, s.in_flight)
            s.in_flight_by_model[model] += 1
            s.max_concurrent_by_model[model] = max(s.max_concurrent_by_model[model], s.in_flight_by_model[model])
            s.requests.append({"path": path, "model": model, "body": body})
            return s.calls[model]

    def _leave(self, model: str) -> None:
        with self._lock:
            self._stats.in_flight -= 1
            self._stats.in_flight_by_model[model] -= 1


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class _Handler(BaseHTTPRequestHandler):
    owner: OllamaServer
    protocol_version = "HTTP/1.1"  # keep-alive like the real server; chunked streaming
    # headers and body go out in separate writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms
    disable_nagle_algorithm = True

    def log_message(self, *args) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.owner._track(self.connection, True)
        if self.owner.killed:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.owner._track(self.connection, False)

    # -------------------------------------------------------------- helpers
    _in_flight: str | None = None

    def _answered(self) -> None:
        """The request stops counting as in flight, before the first byte of its response: a client that
        got the response may send its next request before this thread runs again, and the server must not
        count both (``max_concurrent`` is what the client actually had in flight)."""
        if self._in_flight is not None:
            self.owner._leave(self._in_flight)
            self._in_flight = None

    def _send_json(self, status: int, obj: Any) -> None:
        self._answered()
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            return json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return {"__invalid__": raw.decode("utf-8", "replace")}

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the client closes the connection first (then False)."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], min(remaining, 0.02))
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return False
                except OSError:
                    return False
                time.sleep(min(remaining, 0.02))  # bytes waiting (pipelining): keep waiting
        return True

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -------------------------------------------------------------- routes
    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/api/tags":
            models = [{"name": name, "model": name, "modified_at": _now(), "size": 1_000_000,
                       "digest": hashlib.sha256(name.encode()).hexdigest(),
                       "details": {"format": "gguf", "family": name.split(":")[0], "parameter_size": "1B",
                                   "quantization_level": "Q4_0"}}
                      for name in sorted(self.owner.models)]
            self._send_json(200, {"models": models})
        elif self.path == "/api/version":
            self._send_json(200, {"version": "0.0.0-loopback"})
        elif self.path in ("/", ""):
            data = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self._send_json(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        body = self._read_body()
        if "__invalid__" in body:
            self._send_json(400, {"error": "invalid JSON body"})
            return
        path = self.path
        if path not in ("/api/chat", "/api/generate", "/api/embed"):
            self._send_json(404, {"error": "not found"})
            return
        model = body.get("model") or ""
        if not model:
            self._send_json(400, {"error": "model is required"})
            return
        behaviour = self.owner.models.get(model)
        if behaviour is None:
            self._send_json(404, {"error": f"model '{model}' not found"})
            return
        call_number = self.owner._enter(model, path, body)
        self._in_flight = model
        try:
            if path == "/api/embed":
                if behaviour.delay_s and not self._wait(behaviour.delay_s):  # a model's latency applies here too
                    self.close_connection = True
                    return
                failure = behaviour.respond("", call_number)  # failing kinds fail embeddings too
                if isinstance(failure, Slow):
                    failure = failure.outcome
                if isinstance(failure, HttpError):
                    self._send_json(failure.status, {"error": failure.message})
                    return
                if isinstance(failure, DropConnection):
                    self._drop()
                    return
                if isinstance(failure, Die):
                    self.close_connection = True
                    self.owner.kill()
                    return
                inputs = body.get("input", [])
                inputs = [inputs] if isinstance(inputs, str) else list(inputs)
                self._send_json(200, {"model": model, "embeddings": [embed_vector(t, self.owner.embed_dims)
                                                                      for t in inputs],
                                      "total_duration": 1000, "load_duration": 10,
                                      "prompt_eval_count": len(inputs)})
                return
            if path == "/api/chat":
                users = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
                prompt = users[-1] if users else ""
            else:
                prompt = body.get("prompt", "") or ""
            outcome = behaviour.respond(prompt, call_number)
            while isinstance(outcome, Slow):
                if not self._wait(outcome.delay_s):
                    self.close_connection = True  # the client hung up while "generating"
                    return
                outcome = outcome.outcome
            if isinstance(outcome, DropConnection):
                self._drop()
                return
            if isinstance(outcome, Die) or self.owner.killed:
                self.close_connection = True
                self.owner.kill()
                return
            stream = bool(body.get("stream", True))
            try:
                if isinstance(outcome, Trickle):
                    self._trickle(path, model, outcome, stream)
                    return
                if isinstance(outcome, RawAnswer):
                    self._answer_bytes(path, model, outcome.content, stream)
                    return
                if isinstance(outcome, Huge):
                    self._huge(path, model, outcome.size, stream)
                    return
            except OSError:
                # the client gave up (its deadline, its size bound): nothing to answer to
                self.close_connection = True
                return
            if isinstance(outcome, RawBody):
                self._answered()
                self.send_response(outcome.status)
                self.send_header("Content-Type", outcome.content_type)
                self.send_header("Content-Length", str(len(outcome.body)))
                self.end_headers()
                self.wfile.write(outcome.body)
                return
            if isinstance(outcome, HttpError):
                self._send_json(outcome.status, {"error": outcome.message})
                return
            try:
                self._answer(path, model, str(outcome), bool(body.get("stream", True)))
            except (BrokenPipeError, ConnectionResetError):
                # the client gave up (its timeout): nothing to answer to
                self.close_connection = True
        finally:
            self._answered()

    def _final(self, path: str, model: str, content: str) -> dict:
        out: dict[str, Any] = {"model": model, "created_at": _now(), "done": True, "done_reason": "stop",
                               "total_duration": 1_000_000, "eval_count": 1}
        if path == "/api/chat":
            out["message"] = {"role": "assistant", "content": content}
        else:
            out["response"] = content
        return out

    def _raw_response(self, body: bytes, stream: bool) -> bytes:
        ctype = "application/x-ndjson" if stream else "application/json; charset=utf-8"
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                f"Date: {self.date_time_string()}\r\n\r\n")
        return head.encode("latin-1") + body

    def _trickle(self, path: str, model: str, outcome: Trickle, stream: bool) -> None:
        """The whole response, status line included, one byte at a time."""
        self._answered()
        body = json.dumps(self._final(path, model, outcome.text)).encode() + (b"\n" if stream else b"")
        for byte in self._raw_response(body, stream):
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(outcome.interval_s)

    def _answer_bytes(self, path: str, model: str, content: bytes, stream: bool) -> None:
        """A response whose answer text is ``content`` as raw bytes inside the JSON string."""
        self._answered()
        marker = "\u0000MARK\u0000"
        text = json.dumps(self._final(path, model, marker))
        body = text.encode().replace(json.dumps(marker)[1:-1].encode(), content) + (b"\n" if stream else b"")
        self.wfile.write(self._raw_response(body, stream))
        self.wfile.flush()

    def _huge(self, path: str, model: str, size: int, stream: bool) -> None:
        """An answer of ``size`` bytes, sent piece by piece (Content-Length: the whole JSON)."""
        self._answered()
        marker = "\u0000MARK\u0000"
        text = json.dumps(self._final(path, model, marker))
        token = json.dumps(marker)[1:-1]
        before, after = text.split(token)
        tail = after.encode() + (b"\n" if stream else b"")
        length = len(before.encode()) + size + len(tail)
        ctype = "application/x-ndjson" if stream else "application/json; charset=utf-8"
        self.wfile.write((f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {length}\r\n\r\n"
                          ).encode("latin-1") + before.encode())
        piece = b"a" * 65536
        left = size
        while left > 0:
            self.wfile.write(piece[:min(left, len(piece))])
            left -= len(piece)
        self.wfile.write(tail)
        self.wfile.flush()

    def _answer(self, path: str, model: str, text: str, stream: bool) -> None:
        self._answered()
        stats = {"total_duration": 1_000_000, "load_duration": 10_000, "prompt_eval_count": 10,
                 "prompt_eval_duration": 100_000, "eval_count": max(1, len(text) // 4),
                 "eval_duration": 500_000}

        def chunk(piece: str, done: bool) -> dict:
            base: dict[str, Any] = {"model": model, "created_at": _now(), "done": done}
            if path == "/api/chat":
                base["message"] = {"role": "assistant", "content": piece}
            else:
                base["response"] = piece
            if done:
                base["done_reason"] = "stop"
                base.update(stats)
                if path == "/api/generate":
                    base["context"] = [1, 2, 3]
            return base

        if not stream:
            self._send_json(200, chunk(text, True))
            return
        # NDJSON stream, chunked transfer encoding, as the real server sends it
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        n = self.owner.stream_chunk_chars
        pieces = [text[i:i + n] for i in range(0, len(text), n)] or [""]
        for piece in pieces:
            self._write_chunk(json.dumps(chunk(piece, False)) + "\n")
        self._write_chunk(json.dumps(chunk("", True)) + "\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _write_chunk(self, line: str) -> None:
        data = line.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
