"""The web configuration file (``--web.config.file``): TLS and basic auth for the HTTP side.

The format is that of Prometheus' exporter-toolkit, so one file can serve this exporter and the
Go exporters beside it (``web-config.example.yml`` documents each key)::

    tls_server_config:
      cert_file: server.crt       # relative paths are relative to this file's directory
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: ca.crt
    basic_auth_users:
      prometheus: $2y$10$...      # bcrypt: htpasswd -nBC 10 "" | tr -d ':\\n'

``load_web_config`` checks everything before the server listens: the YAML, every key (unknown
ones are errors), the shape of each bcrypt hash, and that the certificate, key and client CAs
load into an ``ssl.SSLContext``. Every problem is one line of a ``ConfigError``. This module
owns the file's keys, users and headers, and the frozen ``WebConfig``.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from exporter.config import read_yaml_file
from exporter.errors import ConfigError, unknown_key
from exporter.web.tls_context import build_tls_context

#: Response headers that may be set, with their allowed values (None: any one-line value).
_HEADERS: dict[str, tuple[str, ...] | None] = {
    "Content-Security-Policy": None,
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
}
#: The costliest bcrypt hash accepted: cost 14 is about 1.5 s per check; every step doubles it.
MAX_BCRYPT_COST = 14
_BCRYPT = re.compile(r"\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}")
_KEYS = {
    "": {"tls_server_config", "basic_auth_users", "http_server_config"},
    "tls_server_config.": {
        "cert_file", "key_file", "client_auth_type", "client_ca_file", "client_ca",
        "min_version", "max_version", "cipher_suites", "prefer_server_cipher_suites",
    },
    "http_server_config.": {"http2", "headers"},
}  # fmt: skip
_UNSUPPORTED = {
    "rate_limit": "rate limiting is not supported; put a reverse proxy in front for that",
    "tls_server_config.cert": "an inline certificate is not supported; use cert_file",
    "tls_server_config.key": "an inline key is not supported; use key_file",
    "tls_server_config.curve_preferences": "is not supported: Python's ssl cannot set a list of "
    "curves; remove it (OpenSSL prefers X25519, then P-256)",
    "tls_server_config.client_allowed_sans": "is not supported; give the allowed clients "
    "certificates from a CA of their own and name it in client_ca_file",
}


@dataclass(frozen=True, slots=True)
class WebConfig:
    """What the web server needs: TLS (None: plain HTTP), users, extra headers.

    ``users`` maps each name to its bcrypt hash; ``warnings`` are settings that work but weaken
    security, one line each.
    """

    ssl_context: ssl.SSLContext | None = None
    client_auth_type: str = "NoClientCert"
    users: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    headers: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for ``--check-config`` and the start-up log: TLS and basic auth, on or off."""
        tls = f"on (client_auth_type {self.client_auth_type})" if self.ssl_context else "off"
        return f"TLS {tls}; basic auth {f'{len(self.users)} user(s)' if self.users else 'off'}"


def load_web_config(path: Path) -> WebConfig:
    """Read, check and load the web configuration at ``path``; ConfigError lists every problem.

    Each line starts with the file's path and names the key. Certificate and key files are read
    now; a reload (SIGHUP, ``POST /-/reload``) reads them again.
    """
    return _Parser(path).config(read_yaml_file(path))


class _Parser:
    """Turns the YAML data into a WebConfig, gathering every problem as one line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def problem(self, key: str, text: str) -> None:
        line = f"{self.path}: {key}: {text}"  # one line, even for a key with a newline in it
        self.problems.append("".join(c if c.isprintable() else repr(c)[1:-1] for c in line))

    def config(self, data: object) -> WebConfig:
        top = self.mapping("", {} if data is None else data)
        tls = self.mapping("tls_server_config.", top.get("tls_server_config") or {})
        http = self.mapping("http_server_config.", top.get("http_server_config") or {})
        users = self.users(top.get("basic_auth_users") or {})
        headers = self.headers(http.get("headers") or {})
        if not isinstance(http.get("http2", True), bool):
            self.problem("http_server_config.http2", "must be true or false")  # HTTP/1.1 anyway
        context, client_auth = (
            build_tls_context(tls, self.path.parent, self.problem, self.warnings)
            if tls
            else (None, "NoClientCert")
        )
        if users and context is None:
            self.warnings.append(
                "basic_auth_users without tls_server_config: passwords cross the network in "
                "clear text; add tls_server_config"
            )
        if self.problems:
            raise ConfigError(self.problems)
        return WebConfig(context, client_auth, MappingProxyType(users), headers, (*self.warnings,))

    def mapping(self, prefix: str, data: object) -> dict[str, Any]:
        """``data`` as a mapping whose keys are all known; problems for the others."""
        if not isinstance(data, dict):
            self.problem(prefix.rstrip(".") or "the file", "must be a mapping of keys to values")
            return {}
        known = _KEYS[prefix]
        for key in data:
            name = f"{prefix}{key}"
            if name in _UNSUPPORTED:
                self.problem(name, _UNSUPPORTED[name])
            elif key not in known:
                fix = unknown_key(key, sorted(known), listing="known:")
                self.problem(f"{prefix}{str(key)[:40]}", f"unknown key; {fix}")
        return {k: v for k, v in data.items() if k in known}

    def users(self, data: object) -> dict[str, bytes]:
        if not isinstance(data, dict):
            self.problem("basic_auth_users", "must map each user name to a bcrypt hash")
            return {}
        users = {}
        for name, hashed in data.items():
            key = f"basic_auth_users.{str(name)[:40]}"
            if not isinstance(name, str) or not name or ":" in name:
                self.problem(key, "a user name must be a non-empty string without ':'; quote it")
            elif not isinstance(hashed, str) or not _BCRYPT.fullmatch(hashed):
                self.problem(key, 'is not a bcrypt hash ($2y$10$ and 53 characters); make one '
                             "with htpasswd -nBC 10 \"\" | tr -d ':\\n'")  # fmt: skip
            elif int(hashed[4:6]) > MAX_BCRYPT_COST:
                # Each check of a cost-31 hash takes days of CPU: one request would hold a worker.
                self.problem(key, f"bcrypt cost {int(hashed[4:6])} is above {MAX_BCRYPT_COST};"
                             " make the hash with htpasswd -nBC 10")  # fmt: skip
            else:
                users[name] = hashed.encode()
        if len({hashed[4:6] for hashed in users.values()}) > 1:
            self.warnings.append(
                "basic_auth_users: the hashes have different bcrypt costs, so the time of a"
                " failed login tells which users exist; give every user the same cost"
            )
        return users

    def headers(self, data: object) -> tuple[tuple[str, str], ...]:
        if not isinstance(data, dict):
            self.problem("http_server_config.headers", "must map header names to values")
            return ()
        headers = []
        for name, value in data.items():
            key = f"http_server_config.headers.{str(name)[:40]}"
            if name not in _HEADERS:
                self.problem(key, f"cannot be set; settable: {', '.join(_HEADERS)}")
            elif not isinstance(value, str) or not (value.isprintable() and value.isascii()):
                self.problem(key, "must be a one-line ASCII string")
            elif (allowed := _HEADERS[name]) is not None and value not in allowed:
                self.problem(key, f"{value!r} is not one of {', '.join(allowed)}")
            elif value:  # blank leaves the header unset, as in Go
                headers.append((name, value))
        return tuple(headers)
