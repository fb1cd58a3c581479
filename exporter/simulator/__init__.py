"""The simulator: a fake Wolkvox campaigns API on 127.0.0.1 that enforces the real rules.

Used by ``wolkvox-exporter --demo`` and by the tests as an independent oracle of the API, so it
imports nothing of the exporter. The rules follow API.md: the ``wolkvox-token`` header (401
without, 403 when unknown), ``api=campaigns`` (400 otherwise), at most 2 requests in flight per
token (the third gets 403), an optional daily quota where every call costs 1, an optional
minimum interval between calls, and canned faults (`Fault`) served instead of the answer.
Every request is recorded (`RecordedRequest`) for tests to assert on. Several operations
(`OperationSpec`), each with its own tokens, campaigns and time zone, can share one simulator.

Owns: the rules and their state (``core``), the operations and their controls (``scenario``,
``operation``), how campaigns move on in real time (``evolution``), the HTTP server and handler
(``server``, ``handler``), the control over HTTP (``control``, ``/-/simulator``), what is served
(``data``), its vocabulary (``types``) and its command line (``cli``; ``python -m
exporter.simulator --help``).
"""

from exporter.simulator import data
from exporter.simulator.cli import main
from exporter.simulator.control import FAULTS, ControlApp
from exporter.simulator.core import Simulator
from exporter.simulator.types import (
    API_PATH,
    CONTROL_PATH,
    FAULT_KINDS,
    MAX_SIMULTANEOUS,
    TOKEN_HEADER,
    Fault,
    OperationSpec,
    RecordedRequest,
)

__all__ = [
    "API_PATH",
    "CONTROL_PATH",
    "FAULTS",
    "FAULT_KINDS",
    "MAX_SIMULTANEOUS",
    "TOKEN_HEADER",
    "ControlApp",
    "Fault",
    "OperationSpec",
    "RecordedRequest",
    "Simulator",
    "data",
    "main",
]
