"""daphne limits: request bodies refused while they are read, not after; oversized websocket
messages closed with 1009.

daphne hands a request to the ASGI application only once Twisted has stored the whole body (in
memory, or in a temporary file from 100 kB on), so a limit checked by Django comes after a body of
any size was read. Twisted offers no body limit and daphne no hook for one; the overrides below add
it where the body arrives. Checked against daphne 4.2.3 (pinned in pyproject.toml), Twisted
26.10.0 and autobahn 26.11.1 (`pip show twisted autobahn`). Every override is exercised twice: by
tests/config/test_body_limits.py over a socket against the real web process (config/web.py), and by
tests/config/test_web_launcher.py in memory, with Twisted's real HTTPChannel driving these classes;
either fails when a library changes under them.

Patches, one per non-public thing used:

1. ``BodyLimitRequest.gotLength`` overrides ``twisted.web.http.Request.gotLength`` (documented
   "not intended for users"; part of the channel-to-request interface
   ``_IDeprecatedHTTPChannelToRequestInterface``). HTTPChannel calls it once all headers are in,
   with the declared Content-Length (None when chunked). Over the limit the request is refused there,
   before one byte of the body is read. The refusal also drops the request's ``Expect`` header:
   HTTPChannel.allHeadersReceived reads it right after gotLength to send ``100 Continue``, which must
   not follow a 413. Breaks if: HTTPChannel stops calling it before the body, or reads Expect before
   it; caught by test_declared_length_over_the_limit_is_refused_before_the_body (no answer, or a
   100 Continue after the 413) and test_declared_length_over_the_limit_is_refused_at_the_headers.
2. ``BodyLimitRequest.handleContentChunk`` overrides ``twisted.web.http.Request.handleContentChunk``
   (same interface): every decoded piece of the body (identity or chunked) passes through it; at
   the limit the request is refused and the rest is dropped. Breaks if: the body reaches the request
   another way; caught by test_chunked_body_is_read_only_up_to_the_limit (the client sends it all,
   the temporary file grows) and test_chunked_body_is_refused_when_it_passes_the_limit.
3. ``BodyLimitRequest.requestReceived`` overrides ``twisted.web.http.Request.requestReceived``: a
   refused request whose remaining body happened to arrive in the same read is not handed to daphne
   (which would start the application and answer a second time). Caught by
   test_declared_length_over_the_limit_is_refused_at_the_headers (a second answer, a started app).
4. ``BodyLimitHTTPFactory.buildProtocol`` overrides ``daphne.http_protocol.HTTPFactory.buildProtocol``,
   which hard-codes daphne's ``WebRequest`` as the request class; ours subclasses ``WebRequest``, so
   daphne's request handling (scope, websocket upgrade, replies) is unchanged. Breaks if: daphne
   picks the request class elsewhere; caught by every 413 test above and
   test_body_within_the_limit_is_handed_to_daphne.
5. ``LimitedServer.run`` replaces the module global ``daphne.server.HTTPFactory`` for the server's
   lifetime, because ``daphne.server.Server.run`` builds its factory from that name; before the
   reactor starts it checks that the factory really is ours and refuses to start otherwise (so a
   daphne that builds its factory differently fails at start-up, not silently without a limit).
   Caught by test_daphne_builds_its_factories_where_the_server_patch_expects and, at start-up, by
   every end-to-end test.
6. ``LimitedServer.run`` also sets autobahn's public factory option ``failByDrop=False`` on daphne's
   ``Server.ws_factory`` (daphne sets the size limits there but has no option for this): a message or
   frame over the limit then ends with a close frame carrying 1009 (message too big) instead of a
   dropped TCP connection the client cannot tell from a network failure. Checked against autobahn
   26.11.1. Breaks if: daphne renames ``ws_factory`` (start-up fails, every end-to-end test fails)
   or autobahn changes the option, which test_websocket_message_over_the_limit_is_closed_with_1009
   catches.

7. ``BodyLimitRequest._body_limit`` reads ``HTTPChannel._path`` (non-public; set from the request
   line before any header is parsed) so the data-file upload path gets QUERENT_UPLOAD_MAX_BYTES
   instead of the general limit. Breaks if: Twisted renames it (then every path gets the general
   limit: uploads over it are refused, nothing is let through); caught by
   tests/executor/test_uploads_e2e.py (an upload over the general limit succeeds, one over the
   upload limit is a 413 before the body is read).
8. ``BodyLimitRequest.__init__`` passes Twisted's documented ``parsePOSTFormSubmission=False``
   (``twisted.web.http.Request``, Twisted 24.7+): Twisted otherwise parses every multipart and
   URL-encoded POST body into ``request.args`` with the ``email`` package, in memory, before
   daphne reads it (daphne never uses ``args``); a 64 MB multipart upload grew the web process by
   about 700 MB. Not a private API; listed here because it changes Twisted's behaviour for
   daphne. Caught by test_multipart_body_is_handed_to_daphne_without_twisted_parsing_it.

What the client sees: ``413`` with ``{"detail": "...limit of N bytes.", "code": "request_too_large"}``
and ``Connection: close``. The server stops reading at once, sends the answer, closes its sending
half (the client reads the answer and an end of stream) and drops the connection after a short
grace, without reading the rest of the body: memory and disk stay bounded by the limit.

HTTP/2 is not offered (``acceptableProtocols``): the refusal is written as HTTP/1.1. daphne speaks
HTTP/2 only over TLS with Twisted's http2 extra, which Querent does not install.
"""

from __future__ import annotations

import json
import logging

import daphne.server
from daphne.http_protocol import HTTPFactory, WebRequest
from twisted.internet import interfaces, reactor
from twisted.protocols.policies import ProtocolWrapper

from config.limits import UPLOAD_PATHS, body_limit, is_upload_path

log = logging.getLogger(__name__)

# Seconds a refused connection stays half-open so the client can read the 413 before it is dropped.
REFUSED_CLOSE_GRACE = 2.0


def refusal(detail: str) -> bytes:
    """The complete HTTP/1.1 413 response, in the project's JSON error shape."""
    body = json.dumps({"detail": detail, "code": "request_too_large"}).encode()
    head = (
        "HTTP/1.1 413 Request Entity Too Large\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


class BodyLimitRequest(WebRequest):
    """daphne's request, refusing a body over `server.max_body_bytes` as it arrives."""

    _body_refused = False
    _body_received = 0
    _close_call = None

    def __init__(self, channel, *args, **kwargs):
        # Twisted parses every multipart and URL-encoded POST body into request.args before daphne
        # sees it, in memory (a 64 MB file upload grew the process by about 700 MB); daphne reads
        # only the body itself, so that parse is turned off with Twisted's documented
        # `parsePOSTFormSubmission` argument (Twisted 24.7+).
        kwargs.setdefault("parsePOSTFormSubmission", False)
        super().__init__(channel, *args, **kwargs)

    @property
    def _body_limit(self) -> int:
        # Patch 7: the request line's path, which HTTPChannel keeps in `_path` from the first line on
        # (before gotLength). File uploads of data have their own limit (config.limits).
        path = getattr(self.channel, "_path", None) or b""
        if is_upload_path(path.split(b"?", 1)[0].decode("latin-1")):
            return max(body_limit(UPLOAD_PATHS[0]), self.server.max_body_bytes)
        return self.server.max_body_bytes

    def gotLength(self, length):  # noqa: N802 - Twisted's name
        if length is not None and length > self._body_limit:
            self.requestHeaders.removeHeader(b"Expect")  # no 100 Continue after the 413
            self._refuse_body(f"Request body of {length} bytes exceeds the limit of {self._body_limit} bytes.")
            return
        super().gotLength(length)

    def handleContentChunk(self, data):  # noqa: N802 - Twisted's name
        if self._body_refused:
            return  # already answered: what was read with the headers is dropped
        self._body_received += len(data)
        if self._body_received > self._body_limit:
            self._refuse_body(f"Request body exceeds the limit of {self._body_limit} bytes.")
            return
        super().handleContentChunk(data)

    def requestReceived(self, command, path, version):  # noqa: N802 - Twisted's name
        if self._body_refused:
            return
        super().requestReceived(command, path, version)

    def connectionLost(self, reason):  # noqa: N802 - Twisted's name
        if self._close_call is not None and self._close_call.active():
            self._close_call.cancel()
        super().connectionLost(reason)

    def _refuse_body(self, detail: str) -> None:
        self._body_refused = True
        if self.content is not None:
            self.content.close()  # a temporary file holding the part read so far goes now
        self.content = _Discarded()
        transport = self.channel.transport
        # The channel is registered as the transport's producer: unregistered, a drained write
        # buffer cannot resume reading. Then stop reading, answer, and close the sending half.
        transport.unregisterProducer()
        if interfaces.IPushProducer.providedBy(transport):
            transport.pauseProducing()
        transport.write(refusal(detail))
        if isinstance(transport, ProtocolWrapper):  # TLS: no half-close; close once the answer is out
            transport.loseConnection()
        else:
            transport.loseWriteConnection()  # the client reads the answer, then an end of stream
            self._close_call = reactor.callLater(REFUSED_CLOSE_GRACE, transport.abortConnection)
        peer = transport.getPeer()
        log.info("refused a request body over %s bytes from %s", self._body_limit, getattr(peer, "host", peer))


class _Discarded:
    """Stands in for the body of a refused request: takes nothing, holds nothing."""

    closed = False

    def write(self, data):
        pass

    def read(self, size=-1):
        return b""

    def seek(self, offset, whence=0):
        return 0

    def close(self):
        self.closed = True


class BodyLimitHTTPFactory(HTTPFactory):
    """daphne's HTTP factory with `BodyLimitRequest` as the request class, HTTP/1.1 only."""

    def buildProtocol(self, addr):  # noqa: N802 - Twisted's name
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = BodyLimitRequest
        return protocol

    def acceptableProtocols(self):  # noqa: N802 - Twisted's name
        return [b"http/1.1"]


class LimitedServer(daphne.server.Server):
    """daphne's Server: HTTP bodies over `max_body_bytes` refused while read (patches 1-5), websocket
    messages over daphne's own `websocket_max_message_size` closed with 1009 (patch 6)."""

    def __init__(self, *args, max_body_bytes: int, **kwargs):
        if max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be positive")
        self.max_body_bytes = max_body_bytes
        super().__init__(*args, **kwargs)

    def run(self):
        original, daphne.server.HTTPFactory = daphne.server.HTTPFactory, BodyLimitHTTPFactory
        ready = self.ready_callable

        def before_reactor():  # Server.run calls it once both factories exist and listen
            if not isinstance(getattr(self, "http_factory", None), BodyLimitHTTPFactory):
                raise RuntimeError("daphne did not build its HTTP factory from daphne.server.HTTPFactory: no body limit, not starting")
            self.ws_factory.setProtocolOptions(failByDrop=False)
            if ready:
                ready()

        self.ready_callable = before_reactor
        try:
            super().run()
        finally:
            daphne.server.HTTPFactory = original
            self.ready_callable = ready
