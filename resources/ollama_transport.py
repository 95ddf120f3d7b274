"""The socket-level guard of the one Ollama client (resources/llm.py): a total deadline per request and a bound
on the bytes received, enforced on httpcore's network streams, and strict UTF-8 decoding of answers.

httpx's timeouts apply to each read, so a server sending a byte every few seconds never trips them; here every
connect/read/write is clamped to what is left of the request's deadline.
"""

from __future__ import annotations

import codecs
import contextlib
import threading
import time
from typing import Any


class AnswerTooLarge(Exception):
    """The server's response passed the client's ``max_answer_bytes`` (reading stopped there)."""


class BadAnswerText(ValueError):
    """The answer is not valid UTF-8 text (invalid bytes, or lone surrogates escaped in the JSON)."""


# ------------------------------------------------------------------ per-request guard on the socket
# httpx's timeouts apply to each read: a server sending a byte every few seconds never trips them.
# Every request of the client runs with a guard in a thread-local (sync httpx does its I/O in the
# calling thread); the network streams below clamp each connect/read/write to what is left of the
# request's deadline and count the bytes received.
_local = threading.local()


class RequestGuard:
    def __init__(self, deadline: float, max_bytes: int) -> None:
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.received = 0
        self.expired = False

    def clamp(self, timeout: float | None, exc_type: type[Exception]) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.expired = True
            raise exc_type("the request's total deadline has passed")
        return remaining if timeout is None else min(timeout, remaining)

    def note_timeout(self) -> None:
        if time.monotonic() >= self.deadline - 1e-3:
            self.expired = True

    def count(self, n: int) -> None:
        self.received += n
        if self.received > self.max_bytes:
            raise AnswerTooLarge(f"answer larger than {self.max_bytes} bytes (FMLAKE_LLM_MAX_ANSWER_BYTES); "
                                 f"reading stopped there")


def current_guard() -> RequestGuard | None:
    return getattr(_local, "guard", None)


@contextlib.contextmanager
def guarded(guard: RequestGuard):
    """Run the requests of this thread under ``guard`` (sync httpx does its I/O in the calling thread)."""
    _local.guard = guard
    try:
        yield guard
    finally:
        _local.guard = None


def _guarded_stream_classes():
    import httpcore

    class GuardedStream(httpcore.NetworkStream):
        def __init__(self, inner) -> None:
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            g = current_guard()
            if g is None:
                return self._inner.read(max_bytes, timeout)
            try:
                data = self._inner.read(max_bytes, g.clamp(timeout, httpcore.ReadTimeout))
            except httpcore.TimeoutException:
                g.note_timeout()
                raise
            g.count(len(data))
            return data

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            g = current_guard()
            if g is None:
                return self._inner.write(buffer, timeout)
            try:
                return self._inner.write(buffer, g.clamp(timeout, httpcore.WriteTimeout))
            except httpcore.TimeoutException:
                g.note_timeout()
                raise

        def close(self) -> None:
            self._inner.close()

        def start_tls(self, ssl_context, server_hostname=None, timeout=None):
            g = current_guard()
            if g is not None:
                timeout = g.clamp(timeout, httpcore.ConnectTimeout)
            return GuardedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class GuardedBackend(httpcore.NetworkBackend):
        def __init__(self, inner) -> None:
            self._inner = inner

        def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
            g = current_guard()
            if g is not None:
                timeout = g.clamp(timeout, httpcore.ConnectTimeout)
            try:
                stream = self._inner.connect_tcp(host, port, timeout=timeout, local_address=local_address,
                                                 socket_options=socket_options)
            except httpcore.TimeoutException:
                if g is not None:
                    g.note_timeout()
                raise
            return GuardedStream(stream)

        def connect_unix_socket(self, path, timeout=None, socket_options=None):
            g = current_guard()
            if g is not None:
                timeout = g.clamp(timeout, httpcore.ConnectTimeout)
            return GuardedStream(self._inner.connect_unix_socket(path, timeout=timeout,
                                                                 socket_options=socket_options))

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    return GuardedStream, GuardedBackend


def guarded_transport(limits):
    """An httpx transport whose connections obey the thread's request guard (deadline, byte bound)."""
    import httpx

    _, backend_cls = _guarded_stream_classes()
    transport = httpx.HTTPTransport(limits=limits)
    pool = transport._pool
    if not hasattr(pool, "_network_backend"):  # httpcore changed: fail loudly rather than lose the deadline
        raise RuntimeError("httpcore's ConnectionPool has no _network_backend: the request deadline cannot be "
                           "installed with this httpcore version")
    pool._network_backend = backend_cls(pool._network_backend)
    return transport


# Text of streamed answers is decoded by httpx with errors="replace", which would hide invalid bytes
# behind U+FFFD: the client's responses are decoded with this strict UTF-8 codec instead.
STRICT_UTF8 = "fmlake_strict_utf8"


class _StrictIncrementalDecoder(codecs.BufferedIncrementalDecoder):
    def __init__(self, errors: str = "strict") -> None:
        super().__init__("strict")  # whatever the caller asks: invalid bytes raise

    def _buffer_decode(self, data, errors, final):
        return codecs.utf_8_decode(data, "strict", final)


def _strict_codec(name: str):
    if name != STRICT_UTF8:
        return None
    utf8 = codecs.lookup("utf-8")
    return codecs.CodecInfo(utf8.encode, utf8.decode, incrementalencoder=utf8.incrementalencoder,
                            incrementaldecoder=_StrictIncrementalDecoder, name=STRICT_UTF8)


codecs.register(_strict_codec)


def strict_text(response) -> None:
    response.encoding = STRICT_UTF8


def check_text(text: str | None, what: str = "answer") -> None:
    if text is None:
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadAnswerText(f"{what} is not valid UTF-8 ({exc.reason} at character {exc.start})") from None
