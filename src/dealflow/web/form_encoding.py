"""Form posts read as UTF-8, however the client sent them.

A browser percent-encodes what a form sends, but a script may post raw UTF-8 (``Zoë 山田``).
Starlette reads the bytes of a urlencoded body as Latin-1, which turns raw UTF-8 into mojibake.
This middleware percent-encodes every byte above 127 before the body is parsed, so that both
spellings decode as the same UTF-8 text (an invalid sequence becomes U+FFFD, never a 500).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_FORM = b"application/x-www-form-urlencoded"
_ESCAPED = {byte: b"%%%02X" % byte for byte in range(128, 256)}


def percent_encode_high_bytes(chunk: bytes) -> bytes:
    """``chunk`` with each byte above 127 written as ``%XX`` (ASCII bytes unchanged)."""
    if chunk.isascii():
        return chunk
    return b"".join(_ESCAPED.get(byte, bytes((byte,))) for byte in chunk)


class Utf8FormBodies:
    """ASGI middleware: urlencoded request bodies reach the app with their non-ASCII bytes escaped."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_form(scope):
            await self.app(scope, receive, send)
            return

        async def escaped() -> Message:
            message = await receive()
            if message["type"] == "http.request" and message.get("body"):
                message = {**message, "body": percent_encode_high_bytes(message["body"])}
            return message

        await self.app(scope, escaped, send)


def _is_form(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return bool(value.split(b";", 1)[0].strip().lower() == _FORM)
    return False
