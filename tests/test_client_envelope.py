"""What each Wolkvox answer means: the envelope and status rules of the client, pure."""

from __future__ import annotations

import socket

import pytest
import requests

from exporter.wolkvox import CampaignsClient, WolkvoxError, error_for_status, parse_envelope
from tests.helpers import sample_body

#: Every shared sample, its HTTP status (samples/README.md) and what the exporter makes of it:
#: a number of campaign rows, or a failure reason.
SAMPLE_OUTCOMES = [
    ("ok_three_campaigns", 200, 3),
    ("ok_code_empty_string", 200, 1),
    ("ok_code_int_error_string_null", 200, 1),
    ("empty_result_200_empty_array", 200, 0),
    ("empty_result_404_validate_dates", 404, "not_found"),
    ("error_missing_token", 401, "invalid_token"),
    ("error_invalid_token", 403, "invalid_token"),
    ("error_token_concurrency", 403, "concurrency_limit"),
    ("error_daily_quota_exceeded", 403, "quota_exceeded"),
    ("error_unknown_api", 400, "bad_request"),
]


@pytest.mark.parametrize(("name", "status", "outcome"), SAMPLE_OUTCOMES)
def test_every_sample_gives_rows_or_a_reason(name: str, status: int, outcome: int | str) -> None:
    body = sample_body(name)
    if isinstance(outcome, int):
        assert len(parse_envelope(body, status)) == outcome
    else:
        error = error_for_status(status, body)
        assert (error.reason, error.status) == (outcome, status)


@pytest.mark.parametrize(
    ("body", "rows"),
    [
        (b'{"code": "200", "error": null, "msg": "", "data": null}', 0),
        (b'{"code": "200", "error": null, "msg": ""}', 0),
        (b'{"code": "0", "error": "null", "data": {"campaign_id": "1"}}', 1),
        (b'\xef\xbb\xbf{"data": [{"campaign_id": "1"}, 3]}', 2),  # a BOM; a bad row stays a row
    ],
)
def test_tolerated_envelopes(body: bytes, rows: int) -> None:
    assert len(parse_envelope(body, 200)) == rows


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b"<html><body>Bad gateway</body></html>", "HTML page"),
        (b'{"data": [1, 2', "not JSON"),
        (b"[1, 2]", "expected a JSON object, got a list"),
        (b"42", "got a number"),
        (b'"text"', "got a string"),
        (b'{"data": "none"}', "data is a string"),
        (b'{"data": 5}', "data is a number"),
        (b'{"data": true}', "data is a boolean"),
        (b"\xff\xfe{", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),  # nesting deeper than the parser's stack
    ],
)
def test_unreadable_answers_are_bad_response(body: bytes, message: str) -> None:
    with pytest.raises(WolkvoxError, match=message) as caught:
        parse_envelope(body, 200)
    assert caught.value.reason == "bad_response"


def test_a_200_that_carries_an_error_envelope_is_read_as_that_error() -> None:
    body = b'{"code": 403, "error": "FORBIDDEN", "msg": "TOKEN LIMIT EXCEEDED", "data": []}'
    with pytest.raises(WolkvoxError) as caught:
        parse_envelope(body, 200)
    assert caught.value.reason == "quota_exceeded"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (403, "forbidden"),
        (404, "not_found"),
        (409, "http_4xx"),
        (429, "http_4xx"),
        (500, "http_5xx"),
        (502, "http_5xx"),
        (400, "bad_request"),
    ],
)
def test_statuses_without_an_envelope(status: int, reason: str) -> None:
    error = error_for_status(status, b"<html>maintenance</html>")
    assert error.reason == reason
    assert str(error) == f"HTTP {status}"


def test_a_message_echoing_the_token_is_scrubbed() -> None:
    body = b'{"error": "FORBIDDEN", "msg": "PLEASE VALIDATE TOKEN abc123secret"}'
    error = error_for_status(403, body, token="abc123secret")
    assert "abc123secret" not in str(error)
    assert error.reason == "invalid_token"


class _Unresolvable(requests.Session):
    """A session whose every GET fails as a DNS lookup does, without looking anything up."""

    def get(self, url: str | bytes, **kwargs: object) -> requests.Response:
        try:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        except socket.gaierror as cause:
            raise requests.ConnectionError("Max retries exceeded") from cause


def test_an_unresolved_host_is_named_in_the_failure() -> None:
    client = CampaignsClient(
        "https://wv0032.wolkvox.com/api/v2/information.php?api=campaigns",
        timeout=5,
        max_response_bytes=1024,
        session=_Unresolvable(),
    )
    with pytest.raises(WolkvoxError) as raised:
        client.fetch("T")
    assert (raised.value.reason, str(raised.value)) == (
        "connection_error",
        "host name wv0032.wolkvox.com not resolved",
    )
