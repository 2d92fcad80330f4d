"""The HTTP protocol ingest serves: uvicorn's httptools protocol, bounded per client.

With httptools, uvicorn bounds only an idle kept-alive connection
(``timeout_keep_alive``, ``TXFLOW_KEEP_ALIVE_S``, used as is). It has no limit
on the size of a request's head (h11's ``h11_max_incomplete_event_size`` has no
httptools counterpart, and httptools gathers a header value by concatenation
without bound), no timeout while a head or a body arrives (every byte cancels
the keep-alive timer), and its ``limit_concurrency`` refuses a request only
once its head is complete, so a connection that never completes one keeps its
descriptor. ``Guarded`` adds, per connection:

- the head (request line and headers) in bytes, counted as it arrives:
  ``431`` past ``TXFLOW_MAX_HEADER_BYTES``, before the parser holds more than
  one read beyond it;
- the head in time, from its first byte (of the connection, or of the next
  request on a kept-alive one) to the end of the headers: ``408`` past
  ``TXFLOW_HEADER_TIMEOUT_S``;
- the body in time, from the end of the headers: ``408`` past
  ``TXFLOW_BODY_TIMEOUT_S``;
- an answer the client does not take: a connection whose written data has
  waited unread as long (a client pipelining requests without reading the
  answers) is dropped;

and, over all connections, a cap (``limits.connection_cap``). A connection
beyond the cap takes the place of the one that has waited longest without a
complete request (reading a head or a body, or idle between requests), which
gets a ``503`` (an idle one is just closed); when every connection holds a
complete request being answered, the newcomer gets the ``503``
(``Retry-After``). A slow client cannot keep the slots others need, and a
request being answered is never cut.

Each refusal is a problem document with ``Connection: close``, written before
the socket is closed, and counted in ``incidents`` (logged once per episode and kind).
The timers are lazy: one per connection, re-armed when it fires early, so a
request only moves a deadline (a float) instead of arming a timer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from services.ingest import problems
from services.ingest.incidents import Incidents
from services.ingest.limits import head_size
from shared.settings import Settings

log = logging.getLogger("txflow.ingest")


class Gate:
    """What the connections of one server share: the limits, the cap and who waits longest."""

    def __init__(self, settings: Settings, cap: int) -> None:
        self.cap = cap
        self.max_head = settings.max_header_bytes
        self.head_s = settings.header_timeout_s
        self.body_s = settings.body_timeout_s
        self.open = 0
        # Admitted connections without a complete request being answered, the one
        # waiting longest first (a dict keeps insertion order).
        self.waiting: dict[Guarded, None] = {}
        self.incidents = Incidents(log)
        # What each kind of refusal is logged as (the same words every time: one line each).
        self.refused = f"every one of the {cap} connections is being answered: newcomers get 503"
        self.evicted = f"at the cap of {cap} connections: the one waiting longest is closed"
        self.head_big = f"request line and headers over {self.max_head} bytes: 431"
        self.head_slow = f"request line and headers not received within {self.head_s:g} s: 408"
        self.body_slow = f"body not received within {self.body_s:g} s: 408"
        self.unread = f"answer left unread for {self.body_s:g} s: connection dropped"
        too_large = problems.head_too_large(self.max_head)
        self.too_large_app = too_large.response()  # a Starlette response is an ASGI app
        self.too_large = problems.wire(too_large)
        self.head_late = problems.wire(problems.request_timeout("headers", self.head_s))
        self.body_late = problems.wire(problems.request_timeout("body", self.body_s))
        self.full = problems.wire(problems.connections_full(cap))

    def admit(self, conn: Guarded) -> bool:
        """Count ``conn`` in, evicting the connection waiting longest if at the cap;
        ``False`` when none waits (every connection is being answered)."""
        if self.open >= self.cap:
            oldest = next(iter(self.waiting), None)
            if oldest is None:
                self.incidents.note(self.refused)
                return False
            self.incidents.note(self.evicted)
            oldest.evict()
        self.open += 1
        self.waiting[conn] = None
        return True

    def release(self, conn: Guarded) -> None:
        """Count ``conn`` out (once, whether evicted, refused or closed)."""
        if conn.admitted:
            conn.admitted = False
            self.open -= 1
            self.waiting.pop(conn, None)

    def describe(self) -> str:
        return (
            f"at most {self.cap} connections, request line and headers {self.max_head} bytes "
            f"within {self.head_s:g} s, body within {self.body_s:g} s"
        )


class Guarded(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of ``gate`` (see the module docstring)."""

    gate: ClassVar[Gate]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.admitted = False
        self._deadline: float | None = None  # of the head or body being read, else None
        self._head_bytes: int | None = None  # of the head being read, else None
        self._unread_since: float | None = None  # since when written data waits, else None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.gate.admit(self):
            self._refuse(self.gate.full)
            return
        self.admitted = True
        self._begin_head()
        assert self._deadline is not None
        self._timer = self.loop.call_at(self._deadline, self._check)

    def connection_lost(self, exc: Exception | None) -> None:
        self.gate.release(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._deadline is None:  # the first bytes of a request
            self._begin_head()
        if self._head_bytes is not None:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still in the head after this read: every byte since it began was head.
        head = self._head_bytes
        if head is not None and head > self.gate.max_head and not self.transport.is_closing():
            self.gate.incidents.note(self.gate.head_big)
            self._refuse(self.gate.too_large)

    def on_headers_complete(self) -> None:
        received, self._head_bytes = self._head_bytes, None
        self._deadline = self.loop.time() + self.gate.body_s
        # What was received may hold the start of the body too: when it passes the
        # limit, the parsed head decides.
        max_head = self.gate.max_head
        if (
            received is None
            or received <= max_head
            or head_size(self.url, self.headers) <= max_head
        ):
            super().on_headers_complete()
            return
        # The head ended within the read that passed the limit: uvicorn answers
        # it (as its own limit_concurrency does), with the 431 as the app.
        self.gate.incidents.note(self.gate.head_big)
        app, self.app = self.app, self.gate.too_large_app
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._deadline = None
        if not self.cycle.response_complete:  # complete and being answered: never evicted
            self.gate.waiting.pop(self, None)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        cycle = self.cycle
        if self.admitted and not self.transport.is_closing():
            if cycle.response_complete or cycle.more_body:  # idle, or the next one arriving
                self.gate.waiting[self] = None

    def pause_writing(self) -> None:
        """The client takes less than is written: its clock starts (see ``_check``)."""
        super().pause_writing()
        if self._unread_since is None:
            self._unread_since = self.loop.time()
            wake = self._unread_since + self.gate.body_s
            if self._timer is not None and self._timer.when() > wake:
                self._timer.cancel()
                self._timer = self.loop.call_at(wake, self._check)

    def evict(self) -> None:
        """Make room for a newer connection: ``503`` if reading a request, else just close."""
        if self._deadline is None:
            self._close()
        else:
            self._refuse(self.gate.full)

    def _begin_head(self) -> None:
        self._deadline = self.loop.time() + self.gate.head_s
        self._head_bytes = 0

    def _check(self) -> None:
        """The timer: drop an answer left unread, refuse a head or body past its deadline,
        else sleep until the next deadline (or ``head_s``, while none runs)."""
        self._timer = None
        now, gate, closing = self.loop.time(), self.gate, self.transport.is_closing()
        if not self.transport.get_write_buffer_size():
            self._unread_since = None
        elif self._unread_since is None:
            self._unread_since = now
        elif now >= self._unread_since + gate.body_s:
            gate.incidents.note(gate.unread)
            self.transport.abort()
            return
        deadline = None if closing else self._deadline
        if deadline is not None and now >= deadline:
            if self._head_bytes is not None:
                gate.incidents.note(gate.head_slow)
                self._refuse(gate.head_late)
            else:
                gate.incidents.note(gate.body_slow)
                self._refuse(gate.body_late)
            return
        wake = now + gate.head_s if deadline is None else deadline
        if self._unread_since is not None:
            wake = min(wake, self._unread_since + gate.body_s)
        elif closing:
            return  # nothing left to write: connection_lost follows
        self._timer = self.loop.call_at(wake, self._check)

    def _refuse(self, response: bytes) -> None:
        """Write ``response`` unless it would mix with another, then close."""
        cycle = self.cycle
        if self._head_bytes is not None or self._deadline is None:
            clear = cycle is None or cycle.response_complete  # any cycle is an earlier request's
        else:
            clear = not cycle.response_started  # the cycle is the request whose body is late
        if clear:
            self.transport.write(response)
        self._close()

    def _close(self) -> None:
        """Close, and free the slot now: what the client left unread is dropped."""
        self.gate.release(self)
        if self.transport.get_write_buffer_size():
            self.transport.abort()
        else:
            self.transport.close()


def protocol_class(settings: Settings, cap: int) -> type[Guarded]:
    """A ``Guarded`` class for one server (uvicorn's ``http=``), with its own ``Gate``."""

    class GuardedProtocol(Guarded):
        gate = Gate(settings, cap)

    return GuardedProtocol
