"""Raw UTF-8 in a urlencoded body is escaped byte by byte, so it decodes like a percent-encoded one."""

from __future__ import annotations

from urllib.parse import unquote_plus

from dealflow.web.form_encoding import percent_encode_high_bytes


def test_ascii_is_left_alone() -> None:
    assert percent_encode_high_bytes(b"name=Ann+Lee&x=%C3%AB") == b"name=Ann+Lee&x=%C3%AB"


def test_each_byte_above_127_is_escaped_and_decodes_as_utf8_across_chunks() -> None:
    body = "name=Zoë 山田".encode()
    halves = body[:7], body[7:]  # a chunk boundary inside "ë"
    escaped = b"".join(percent_encode_high_bytes(part) for part in halves)
    assert escaped == b"name=Zo%C3%AB %E5%B1%B1%E7%94%B0"
    assert unquote_plus(escaped.decode("latin-1")) == "name=Zoë 山田"
