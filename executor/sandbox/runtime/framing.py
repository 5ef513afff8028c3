"""Length-prefixed JSON frames: the only format that crosses the sandbox boundary.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON. The reader
checks the length against a cap before buffering, so a hostile peer cannot make the worker
allocate unbounded memory, and any decoding problem becomes a FrameError the caller can handle.
"""

import json
import struct

HEADER = struct.Struct(">I")


class FrameError(Exception):
    """The byte stream is not a valid sequence of frames."""


def encode(message, default=None) -> bytes:
    # ASCII escapes: text with lone surrogates (valid in a Python str, not in UTF-8) still encodes.
    body = json.dumps(message, separators=(",", ":"), default=default).encode("ascii")
    return HEADER.pack(len(body)) + body


class FrameReader:
    """Turns arbitrary chunks of bytes into decoded frames, in order."""

    def __init__(self, max_size: int):
        self.max_size = max_size
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list:
        self._buffer += data
        frames = []
        while len(self._buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buffer)
            if size > self.max_size:
                raise FrameError(f"a frame of {size} bytes is larger than the limit of {self.max_size}")
            if len(self._buffer) < HEADER.size + size:
                break
            body = bytes(self._buffer[HEADER.size:HEADER.size + size])
            del self._buffer[:HEADER.size + size]
            try:
                frames.append(json.loads(body.decode("utf-8")))
            except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, absurd nesting or numbers
                raise FrameError(f"a frame is not valid JSON ({type(exc).__name__})") from None
        return frames

    @property
    def pending(self) -> int:
        return len(self._buffer)


def read_blocking(sock, reader: FrameReader):
    """Read until one frame is complete (sandbox side: the worker is the only writer)."""
    while True:
        data = sock.recv(1 << 20)
        if not data:
            raise EOFError("the worker closed the channel")
        frames = reader.feed(data)
        if frames:
            if len(frames) > 1:
                raise FrameError("the worker sent more than one frame at once")
            return frames[0]
