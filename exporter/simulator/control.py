"""The simulator's control: set a campaign's status and inject faults, over HTTP.

Not part of Wolkvox. One path, `CONTROL_PATH` (``/-/simulator``), with parameters in the query
string (``curl -X POST 'http://127.0.0.1:8080/-/simulator?campaign=20481&status=stopped'``):

- ``GET``: the operations, their campaigns (id, name, status, records), the faults in force,
  and the names below;
- ``POST campaign=ID&status=started|stopped``: set a campaign's status;
- ``POST fault=NAME[&operation=NAME][&times=N]``: serve the fault to the next ``N`` calls, or
  to every call until ``fault=none``; without ``operation``, to every operation. The names are
  `FAULTS`: Wolkvox's error answers by the exporter's reason for them, and each kind of
  `types.FAULT_KINDS` that needs no body of its own.

Every answer is JSON; a bad command gets 400 with ``{"error": "..."}`` naming the fix. Served
by the simulator's own port (``python -m exporter.simulator``) and, for ``--demo``, by the
exporter's port through `ControlApp` (a WSGI app).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from exporter.simulator import data
from exporter.simulator.scenario import Scenario
from exporter.simulator.types import Fault

_SAMPLES = {
    "invalid_token": "error_invalid_token",
    "quota_exceeded": "error_daily_quota_exceeded",
    "concurrency_limit": "error_token_concurrency",
    "bad_request": "error_unknown_api",
    "not_found": "empty_result_404_validate_dates",
}
#: name -> (the fault, what it does), every fault the control can inject.
FAULTS: Mapping[str, tuple[Fault, str]] = {
    **{
        name: (Scenario.sample_fault(sample), f"Wolkvox's {sample} answer")
        for name, sample in _SAMPLES.items()
    },
    "slow": (Fault("slow", delay=3.0), "the normal answer after 3 s"),
    "html_500": (Fault("html_500", status=502), "a proxy's 502 HTML page"),
    "html_200": (Fault("html_200"), "a 200 maintenance page, not JSON"),
    "empty": (Fault("empty"), "200 with no body"),
    "truncated": (Fault("truncated"), "half the answer, then the connection closes"),
    "reset": (Fault("reset"), "a TCP reset, no answer"),
    "hang": (Fault("hang"), "never answers (the exporter times out)"),
    "trickle": (Fault("trickle", delay=0.5), "the answer a byte every 0.5 s"),
    "redirect": (Fault("redirect"), "a 302 to a login page"),
    "gzip_corrupt": (Fault("gzip_corrupt"), "gzip that does not decode"),
    "not_json_object": (Fault("not_json_object"), "a bare JSON list, no envelope"),
}
_SHOWN = ("campaign_id", "campaign_name", "status", "records", "last_use")
_STATUSES = {"started": data.STARTED, "stopped": data.STOPPED}
_JSON = "application/json; charset=utf-8"


def answer(scenario: Scenario, method: str, query: Mapping[str, str]) -> tuple[int, bytes]:
    """The control's status and JSON body for one request (see the module docstring)."""
    if method not in ("GET", "HEAD", "POST"):
        return 405, _json({"error": "use GET to read the state, POST to change it"})
    try:
        if method == "POST":
            _command(scenario, query)
    except (KeyError, ValueError) as error:
        text = error.args[0] if error.args else str(error)
        return 400, _json({"error": str(text)})
    return 200, _json(state(scenario))


def state(scenario: Scenario) -> dict[str, object]:
    """What the control shows: campaigns by operation, faults in force, the commands."""
    faults = scenario.faults()
    return {
        "operations": {
            name: {
                "campaigns": [
                    {key: row.get(key) for key in _SHOWN} for row in scenario.campaigns(name)
                ],
                "faults": {
                    "standing": _name(faults[name][0]),
                    "queued": [_name(fault) for fault in faults[name][1]],
                },
            }
            for name in scenario.operations
        },
        "commands": [
            "POST ?campaign=ID&status=started|stopped",
            "POST ?fault=NAME[&operation=NAME][&times=N]  (fault=none clears)",
        ],
        "faults": {name: what for name, (_, what) in FAULTS.items()},
    }


def _name(fault: Fault | None) -> str | None:
    """The control's name of ``fault`` (its kind when a test injected one of its own)."""
    if fault is None:
        return None
    return next((name for name, (known, _) in FAULTS.items() if known == fault), fault.kind)


def _command(scenario: Scenario, query: Mapping[str, str]) -> None:
    unknown = sorted(set(query) - {"campaign", "status", "fault", "operation", "times"})
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r}; use campaign+status or fault")
    if "campaign" in query:
        status = _STATUSES.get(query.get("status", "").lower())
        if status is None:
            raise ValueError("status must be started or stopped")
        scenario.set_status(query["campaign"], status)
    elif "fault" in query:
        _inject(scenario, query)
    else:
        raise ValueError("give campaign=ID&status=started|stopped, or fault=NAME")


def _inject(scenario: Scenario, query: Mapping[str, str]) -> None:
    name, operation = query["fault"].lower(), query.get("operation") or None
    if name == "none":
        scenario.set_fault(None, operation)
        return
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}; use none or one of {', '.join(FAULTS)}")
    fault = FAULTS[name][0]
    times = query.get("times", "")
    if not times:
        scenario.set_fault(fault, operation)
    elif times.isdigit() and int(times) >= 1:
        scenario.push_fault(fault, min(int(times), 1000), operation)
    else:
        raise ValueError(f"times must be a whole number >= 1, got {times!r}")


def _json(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2).encode() + b"\n"


class ControlApp:
    """The control as a WSGI app, for a server of someone else's (the exporter's, in --demo).

    It answers every path it is mounted on; parameters come from the query string.
    """

    def __init__(self, scenario: Scenario) -> None:
        self._scenario = scenario

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., object]
    ) -> Iterable[bytes]:
        """One request: the status and JSON body of `answer`."""
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        status, body = answer(self._scenario, environ.get("REQUEST_METHOD", "GET"), query)
        reason = {200: "OK", 400: "Bad Request", 405: "Method Not Allowed"}[status]
        headers = [("Content-Type", _JSON), ("Content-Length", str(len(body))),
                   ("Cache-Control", "no-store")]  # fmt: skip
        if status == 405:
            headers.append(("Allow", "GET, HEAD, POST"))
        start_response(f"{status} {reason}", headers)
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]
