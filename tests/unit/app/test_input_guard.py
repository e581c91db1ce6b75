"""The API's input guard as pure rules: media type, JSON bounds, NUL in URLs."""

from __future__ import annotations

import pytest

from signalbridge.web.input_guard import body_problem, is_json_media_type, url_has_nul


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
    ],
)
def test_json_media_types(content_type: str) -> None:
    assert is_json_media_type(content_type)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "text/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ],
)
def test_other_media_types(content_type: str | None) -> None:
    assert not is_json_media_type(content_type)


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("text/plain", b'{"a": 1}', 415),
        (None, b'{"a": 1}', 415),
        ("application/json", b'{"a":' * 10_000, 422),
        ("application/json", b"[" * 10_000 + b"]" * 10_000, 422),
        ("application/json", b'{"a": NaN}', 422),
        ("application/json", b'{"a": 1e999}', 422),
        ("application/json", b'{"a": ' + b"1" * 5000 + b"}", 422),
        ("application/json", b'{"a": "\\u0000"}', 422),
        ("application/json", b'{"a": "\\udfff"}', 422),
        ("application/json", b"\xff\xfe", 422),
        ("application/json", b"{", 422),
    ],
)
def test_refused_bodies(content_type: str | None, body: bytes, status: int) -> None:
    problem = body_problem(content_type, body)
    assert problem is not None and problem[0] == status and problem[1]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b""),
        ("application/json", b'{"price": "1e-8", "deep": [[[[1]]]], "x": 1.5}'),
        ("application/json", b'"\\u00e9"'),
    ],
)
def test_accepted_bodies(content_type: str, body: bytes) -> None:
    assert body_problem(content_type, body) is None


def test_nul_in_urls() -> None:
    assert url_has_nul("/api/v1/x", b"status=%00")
    assert url_has_nul("/api/v1/\x00", b"")
    assert not url_has_nul("/api/v1/x", b"status=%FF&y=%2500")
