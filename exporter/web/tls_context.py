"""``tls_server_config`` of the web configuration file -> a ready ``ssl.SSLContext``.

Versions, cipher suites, the certificate and key, and client certificates, in the names of
Prometheus' exporter-toolkit. Go's ``client_auth_type`` on Python's ssl, which verifies every
certificate it asks for:

=========================== =============================================================
NoClientCert (default)      ``CERT_NONE``: no certificate asked for
RequestClientCert           ``CERT_NONE``: Go asks but never checks, so the same clients get in
VerifyClientCertIfGiven     ``CERT_OPTIONAL``: a certificate must chain to the client CAs
RequireAnyClientCert        ``CERT_REQUIRED``: stricter than Go, the certificate must chain to
                            the client CAs (Python cannot require one without verifying it)
RequireAndVerifyClientCert  ``CERT_REQUIRED``: as Go
=========================== =============================================================

Client certificates are verified against ``client_ca_file`` (or ``client_ca``) only, never the
system's CAs.
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
#: client_auth_type -> (verify mode, whether it checks certificates against the client CAs).
_CLIENT_AUTH = {
    "NoClientCert": (ssl.CERT_NONE, False),
    "RequestClientCert": (ssl.CERT_NONE, False),
    "VerifyClientCertIfGiven": (ssl.CERT_OPTIONAL, True),
    "RequireAnyClientCert": (ssl.CERT_REQUIRED, True),
    "RequireClientCert": (ssl.CERT_REQUIRED, True),  # Go's old name of RequireAnyClientCert
    "RequireAndVerifyClientCert": (ssl.CERT_REQUIRED, True),
}
#: Go's names of the TLS 1.2 cipher suites it calls secure -> OpenSSL's names.
_CIPHERS_TLS12 = {
    f"TLS_ECDHE_{auth}_WITH_{go}": f"ECDHE-{auth}-{openssl}"
    for auth in ("ECDSA", "RSA")
    for go, openssl in (
        ("AES_128_CBC_SHA", "AES128-SHA"),
        ("AES_256_CBC_SHA", "AES256-SHA"),
        ("AES_128_GCM_SHA256", "AES128-GCM-SHA256"),
        ("AES_256_GCM_SHA384", "AES256-GCM-SHA384"),
        ("CHACHA20_POLY1305_SHA256", "CHACHA20-POLY1305"),
    )
}
#: TLS 1.3 suites: always on, in Go as in OpenSSL; accepted in the list and otherwise ignored.
_CIPHERS_TLS13 = {f"TLS_{s}" for s in ("AES_128_GCM_SHA256", "AES_256_GCM_SHA384",
                                          "CHACHA20_POLY1305_SHA256")}  # fmt: skip


def build_tls_context(
    tls: Mapping[str, Any],
    base_dir: Path,
    problem: Callable[[str, str], None],
    warned: list[str],
) -> tuple[ssl.SSLContext | None, str]:
    """(context, client_auth_type) from ``tls_server_config``; the context is None on problems.

    Each problem goes to ``problem(key, text)``, each setting that weakens security to ``warned``
    (one line each); files
    are relative to ``base_dir`` (the configuration file's directory) and read now, once.
    """
    return _TlsBuilder(base_dir, problem, warned).build(tls)


class _TlsBuilder:
    """Builds one SSLContext, reporting every problem rather than stopping at the first."""

    def __init__(
        self, base_dir: Path, problem: Callable[[str, str], None], warned: list[str]
    ) -> None:
        self.base_dir = base_dir
        self.report = problem
        self.warnings = warned
        self.failed = False

    def problem(self, key: str, text: str) -> None:
        self.failed = True
        self.report(key, text)

    def build(self, tls: Mapping[str, Any]) -> tuple[ssl.SSLContext | None, str]:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.versions(context, tls)
        self.ciphers(context, tls)
        prefer = tls.get("prefer_server_cipher_suites", True)
        if not isinstance(prefer, bool):
            self.problem("tls_server_config.prefer_server_cipher_suites", "must be true or false")
        elif prefer:
            context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
        else:
            context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
        self.certificate(context, tls)
        client_auth = self.client_auth(context, tls)
        return (None if self.failed else context), client_auth

    def versions(self, context: ssl.SSLContext, tls: Mapping[str, Any]) -> None:
        lowest, highest = (self.version(tls, key) for key in ("min_version", "max_version"))
        if lowest and highest and lowest > highest:
            self.problem("tls_server_config.min_version", "is above max_version; swap them")
            return
        with warnings.catch_warnings():  # Python deprecates TLS 1.0 and 1.1; Go allows them
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = lowest or ssl.TLSVersion.TLSv1_2
            context.maximum_version = highest or ssl.TLSVersion.MAXIMUM_SUPPORTED
        if lowest and lowest < ssl.TLSVersion.TLSv1_2:
            self.warnings.append(
                f"tls_server_config.min_version {tls['min_version']} allows TLS versions "
                "deprecated by RFC 8996 (OpenSSL may refuse them anyway); use TLS12"
            )

    def version(self, tls: Mapping[str, Any], key: str) -> ssl.TLSVersion | None:
        value = tls.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or value not in _VERSIONS:
            self.problem(f"tls_server_config.{key}", f"{str(value)[:20]!r} is not one of "
                         f"{', '.join(_VERSIONS)}")  # fmt: skip
            return None
        return _VERSIONS[value]

    def ciphers(self, context: ssl.SSLContext, tls: Mapping[str, Any]) -> None:
        suites = tls.get("cipher_suites") or []
        key = "tls_server_config.cipher_suites"
        if not isinstance(suites, list):
            self.problem(key, "must be a list of cipher suite names")
            return
        known = _CIPHERS_TLS12.keys() | _CIPHERS_TLS13
        unknown = [s for s in suites if not isinstance(s, str) or s not in known]
        if unknown:
            self.problem(key, f"{str(unknown[0])[:60]!r} is not supported; use some of "
                         f"{', '.join(_CIPHERS_TLS12)}")  # fmt: skip
        elif suites:
            tls12 = [_CIPHERS_TLS12[s] for s in suites if s in _CIPHERS_TLS12]
            if not tls12:
                self.problem(key, "lists only TLS 1.3 suites, which are always on; add TLS 1.2 "
                             "suites or set min_version: TLS13")  # fmt: skip
            else:
                context.set_ciphers(":".join(tls12))  # TLS 1.2 and below, in this order

    def certificate(self, context: ssl.SSLContext, tls: Mapping[str, Any]) -> None:
        cert = self.file(tls, "cert_file", "-----BEGIN CERTIFICATE-----", "the server certificate")
        key = self.file(tls, "key_file", "PRIVATE KEY-----", "the server's private key")
        if cert is None or key is None:
            return
        try:
            context.load_cert_chain(cert, key, password=_refuse_password)
        except _EncryptedKeyError:
            why = "is encrypted with a passphrase, which is not supported; give an unencrypted key"
            self.problem("tls_server_config.key_file", f"{why} readable by this user only")
        except ssl.SSLError as error:
            why = f"OpenSSL says: {error.reason or error}"
            if error.reason == "KEY_VALUES_MISMATCH":
                why = "it is not the key of the certificate"
            self.problem("tls_server_config.key_file", f"does not load with cert_file: {why}")

    def client_auth(self, context: ssl.SSLContext, tls: Mapping[str, Any]) -> str:
        name = tls.get("client_auth_type") or "NoClientCert"
        key = "tls_server_config.client_auth_type"
        if not isinstance(name, str) or name not in _CLIENT_AUTH:
            self.problem(key, f"{str(name)[:40]!r} is not one of {', '.join(_CLIENT_AUTH)}")
            return "NoClientCert"
        mode, verifies = _CLIENT_AUTH[name]
        ca_file = self.file(tls, "client_ca_file", "-----BEGIN CERTIFICATE-----", "client CAs")
        ca_text = tls.get("client_ca")
        if ca_file is not None and ca_text is not None:
            self.problem("tls_server_config.client_ca", "is given with client_ca_file; keep one")
        elif not verifies and (ca_file or ca_text):
            self.problem(key, f"{name} checks no client certificate, so client_ca_file is "
                         "unused; use RequireAndVerifyClientCert")  # fmt: skip
        elif verifies and not (ca_file or ca_text) and "client_ca_file" not in tls:
            self.problem(key, f"{name} needs client_ca_file, the CAs that sign client "
                         "certificates")  # fmt: skip
        elif verifies and (ca_file or ca_text):
            try:
                context.load_verify_locations(cafile=ca_file, cadata=ca_text)
            except (ssl.SSLError, TypeError) as error:
                why = getattr(error, "reason", None) or error
                where = "tls_server_config.client_ca" + ("_file" if ca_file else "")
                self.problem(where, f"holds no usable CA certificate: {why}")
            context.verify_mode = mode
        self.warnings.extend(_AUTH_WARNINGS.get(name, ()))
        return name

    def file(self, tls: Mapping[str, Any], key: str, marker: str, what: str) -> str | None:
        """The path of ``tls[key]`` (relative to ``base_dir``) if it reads as PEM."""
        value = tls.get(key)
        if value is None and key == "client_ca_file":
            return None
        if not isinstance(value, str) or not value:
            self.problem(f"tls_server_config.{key}", f"is missing; give the file of {what} (PEM)")
            return None
        path = self.base_dir / value
        try:
            text = path.read_text(encoding="ascii", errors="replace")
        except OSError as error:
            self.problem(f"tls_server_config.{key}", f"{path}: cannot read: "
                         f"{error.strerror or type(error).__name__}")  # fmt: skip
            return None
        if marker not in text:
            self.problem(f"tls_server_config.{key}", f"{path}: is not a PEM file of {what}")
            return None
        return str(path)


_AUTH_WARNINGS = {
    "RequestClientCert": ("tls_server_config.client_auth_type RequestClientCert checks no "
                          "certificate: anyone can connect; use RequireAndVerifyClientCert",),
    "VerifyClientCertIfGiven": ("tls_server_config.client_auth_type VerifyClientCertIfGiven "
                                "lets clients without a certificate in; use "
                                "RequireAndVerifyClientCert to require one",),
    "RequireAnyClientCert": ("tls_server_config.client_auth_type RequireAnyClientCert is "
                             "enforced as RequireAndVerifyClientCert: certificates must chain "
                             "to client_ca_file (Python cannot require one unverified)",),
}  # fmt: skip
_AUTH_WARNINGS["RequireClientCert"] = _AUTH_WARNINGS["RequireAnyClientCert"]


class _EncryptedKeyError(Exception):
    """The key file asks for a passphrase."""


def _refuse_password() -> str:
    # Without a callback OpenSSL would prompt on the terminal and hang a service.
    raise _EncryptedKeyError
