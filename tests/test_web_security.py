"""TLS, client certificates and basic auth (``--web.config.file``), as clients meet them.

Real servers on 127.0.0.1 and free ports, with a test CA, server and client certificates made
here; the web configuration's errors through the real command line; a real Prometheus scraping
over HTTPS with a password; the Docker health check against real servers.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
import pytest
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Gauge

from exporter.errors import ConfigError
from exporter.web import BasicAuth, Site, WebConfig, WebServer, create_app, load_web_config, serve
from tests.exporter_process import ExporterProcess, run_exporter
from tests.helpers import value
from tests.prometheus_server import PrometheusServer

ROOT = Path(__file__).parent.parent
PASSWORD = "s3cret-" + "x" * 8
CHALLENGE = 'Basic realm="wolkvox-exporter", charset="UTF-8"'
CHECK_ENV = {"WOLKVOX_SERVER": "0032", "WOLKVOX_TOKEN": "a" * 50, "WOLKVOX_BASE_URL": "",
             "WOLKVOX_TOKEN_FILE": ""}  # fmt: skip

# -- certificates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """PEM files: a CA, a server certificate it signed (SAN 127.0.0.1 and localhost), a client
    certificate it signed, and a client certificate of another CA."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path
    stranger_key: Path
    encrypted_key: Path

    @property
    def verify(self) -> str:
        """The CA bundle for requests' ``verify``."""
        return str(self.ca)

    @property
    def client(self) -> tuple[str, str]:
        return str(self.client_cert), str(self.client_key)

    @property
    def stranger(self) -> tuple[str, str]:
        return str(self.stranger_cert), str(self.stranger_key)


Issuer = tuple[x509.Name, ec.EllipticCurvePrivateKey]


def _issue(
    name: str, issuer: Issuer | None, usage: str
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate for ``name``: ``usage`` is "ca" (self-signed), "server" or "client"."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer or (subject, key)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=usage == "ca", path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    )
    if usage == "ca":
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
    elif usage == "server":
        san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256()), key


def _write(directory: Path, name: str, cert: x509.Certificate, key: object) -> tuple[Path, Path]:
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def make_pki(directory: Path) -> Pki:
    """Write the test CA, certificates and keys into ``directory``."""
    ca_cert, ca_key = _issue("test CA", None, "ca")
    ca = (ca_cert.subject, ca_key)
    stranger_ca_cert, stranger_ca_key = _issue("another CA", None, "ca")
    server = _issue("localhost", ca, "server")
    client = _issue("prometheus", ca, "client")
    stranger = _issue("prometheus", (stranger_ca_cert.subject, stranger_ca_key), "client")
    ca_path, _ = _write(directory, "ca", ca_cert, ca_key)
    encrypted = directory / "encrypted.key"
    encrypted.write_bytes(
        server[1].private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    return Pki(
        ca_path,
        *_write(directory, "server", *server),
        *_write(directory, "client", *client),
        *_write(directory, "stranger", *stranger),
        encrypted,
    )


# -- servers -----------------------------------------------------------------------------------


def write_config(directory: Path, text: str) -> Path:
    path = directory / "web.yml"
    path.write_text(text, encoding="utf-8")
    return path


def tls_config(pki: Pki, extra: str = "") -> str:
    return f"tls_server_config:\n  cert_file: {pki.server_cert}\n  key_file: {pki.server_key}\n" + (
        "".join(f"  {line}\n" for line in extra.splitlines())
    )


def bcrypt_hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()  # cost 4: fast tests


@contextmanager
def running(
    web: WebConfig,
    check: Callable[[bytes, bytes], bool] = bcrypt.checkpw,
    healthy: bool = True,
) -> Iterator[WebServer]:
    """The app with a test gauge, served with ``web``'s TLS, users and headers."""
    registry = CollectorRegistry()
    Gauge("wolkvox_test_value", "A test gauge.", registry=registry).set(42)
    site = Site(
        "Wolkvox exporter",
        "9.9.9",
        "/metrics",
        registry,
        status=lambda: [{"operation": "bogota"}],
        healthy=lambda: healthy,
        ready=lambda: True,
    )
    auth = BasicAuth(web.users, check) if web.users else None
    server = serve(create_app(site, auth=auth, headers=web.headers), "127.0.0.1:0", web.ssl_context)
    try:
        yield server
    finally:
        server.stop()


def load(tmp_path: Path, text: str) -> WebConfig:
    return load_web_config(write_config(tmp_path, text))


def handshake(server: WebServer, context: ssl.SSLContext) -> tuple[str | None, str]:
    """Shake hands and ask for /healthz; (TLS version, cipher) or SSLError/OSError."""
    with (
        socket.create_connection(server.address, timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert tls.recv(1024).startswith(b"HTTP/1.1 200")
        cipher = tls.cipher()
        assert cipher is not None
        return tls.version(), cipher[0]


def client_context(pki: Pki, **versions: ssl.TLSVersion) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    for attribute, version in versions.items():
        setattr(context, attribute, version)
    return context


# -- TLS ---------------------------------------------------------------------------------------


def test_tls_serves_metrics_and_the_landing_page_over_https(tmp_path: Path, pki: Pki) -> None:
    with running(load(tmp_path, tls_config(pki))) as server:
        assert server.url.startswith("https://127.0.0.1:")
        metrics = requests.get(server.url + "metrics", verify=pki.verify, timeout=5)
        assert value(metrics.text, "wolkvox_test_value") == 42
        landing = requests.get(server.url, verify=pki.verify, timeout=5)
        assert landing.status_code == 200 and '<a href="/metrics">' in landing.text
        by_name = requests.get(
            server.url.replace("127.0.0.1", "localhost") + "healthz", verify=pki.verify, timeout=5
        )
        assert by_name.status_code == 200


def test_plain_http_to_the_tls_port_gets_only_a_hint(tmp_path: Path, pki: Pki) -> None:
    with running(load(tmp_path, tls_config(pki))) as server:
        port = server.address[1]
        response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert response.status_code == 400
        assert "HTTPS only" in response.text and "wolkvox_test_value" not in response.text
        with pytest.raises(requests.exceptions.SSLError):  # not trusted without the test CA
            requests.get(server.url + "metrics", timeout=5)


def test_a_client_that_never_shakes_hands_does_not_hold_up_others(tmp_path: Path, pki: Pki) -> None:
    # A server that shook hands in its accept loop would wait 10 s for these.
    with (
        running(load(tmp_path, tls_config(pki))) as server,
        socket.create_connection(server.address, timeout=5),
        socket.create_connection(server.address, timeout=5),
    ):
        response = requests.get(server.url + "healthz", verify=pki.verify, timeout=3)
        assert response.status_code == 200


def test_min_version_tls13_refuses_a_tls12_client(tmp_path: Path, pki: Pki) -> None:
    with running(load(tmp_path, tls_config(pki, "min_version: TLS13"))) as server:
        old = client_context(pki, maximum_version=ssl.TLSVersion.TLSv1_2)
        with pytest.raises(ssl.SSLError):
            handshake(server, old)
        assert handshake(server, client_context(pki))[0] == "TLSv1.3"


def test_default_min_version_is_tls12_and_max_version_caps(tmp_path: Path, pki: Pki) -> None:
    with running(load(tmp_path, tls_config(pki))) as server:
        tls12 = client_context(pki, maximum_version=ssl.TLSVersion.TLSv1_2)
        assert handshake(server, tls12)[0] == "TLSv1.2"
    with running(load(tmp_path, tls_config(pki, "max_version: TLS12"))) as server:
        assert handshake(server, client_context(pki))[0] == "TLSv1.2"
        with pytest.raises(ssl.SSLError):
            handshake(server, client_context(pki, minimum_version=ssl.TLSVersion.TLSv1_3))


def test_cipher_suites_choose_the_tls12_ciphers_in_the_servers_order(
    tmp_path: Path, pki: Pki
) -> None:
    # The client prefers AES-GCM; the server's list, and its preference, put ChaCha20 first.
    suites = (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    )
    extra = f"max_version: TLS12\ncipher_suites: [{suites}]"
    with running(load(tmp_path, tls_config(pki, extra))) as server:
        negotiated = handshake(server, client_context(pki))
        assert negotiated == ("TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305")


# -- client certificates -----------------------------------------------------------------------


def get(server: WebServer, pki: Pki, cert: tuple[str, str] | None) -> int:
    return requests.get(server.url + "metrics", verify=pki.verify, cert=cert, timeout=5).status_code


@pytest.mark.parametrize("client_auth_type", ["RequireAndVerifyClientCert", "RequireAnyClientCert"])
def test_a_required_client_certificate_must_come_from_the_client_ca(
    tmp_path: Path, pki: Pki, client_auth_type: str
) -> None:
    extra = f"client_auth_type: {client_auth_type}\nclient_ca_file: {pki.ca}"
    with running(load(tmp_path, tls_config(pki, extra))) as server:
        with pytest.raises(requests.ConnectionError):
            get(server, pki, None)
        with pytest.raises(requests.ConnectionError):
            get(server, pki, pki.stranger)
        assert get(server, pki, pki.client) == 200


def test_verify_client_cert_if_given_lets_clients_without_one_in(tmp_path: Path, pki: Pki) -> None:
    extra = f"client_auth_type: VerifyClientCertIfGiven\nclient_ca_file: {pki.ca}"
    web = load(tmp_path, tls_config(pki, extra))
    assert any("VerifyClientCertIfGiven lets clients" in w for w in web.warnings)
    with running(web) as server:
        assert get(server, pki, None) == 200
        assert get(server, pki, pki.client) == 200
        with pytest.raises(requests.ConnectionError):
            get(server, pki, pki.stranger)


def test_request_client_cert_checks_nothing_and_says_so(tmp_path: Path, pki: Pki) -> None:
    web = load(tmp_path, tls_config(pki, "client_auth_type: RequestClientCert"))
    assert any("RequestClientCert checks no certificate" in w for w in web.warnings)
    with running(web) as server:
        assert get(server, pki, None) == 200
        assert get(server, pki, pki.stranger) == 200


@pytest.mark.parametrize(
    ("client_auth_type", "mode"),
    [
        ("NoClientCert", ssl.CERT_NONE),
        ("RequestClientCert", ssl.CERT_NONE),
        ("VerifyClientCertIfGiven", ssl.CERT_OPTIONAL),
        ("RequireAnyClientCert", ssl.CERT_REQUIRED),
        ("RequireClientCert", ssl.CERT_REQUIRED),
        ("RequireAndVerifyClientCert", ssl.CERT_REQUIRED),
    ],
)
def test_client_auth_types_map_onto_python_verify_modes(
    tmp_path: Path, pki: Pki, client_auth_type: str, mode: ssl.VerifyMode
) -> None:
    verifies = mode != ssl.CERT_NONE
    extra = f"client_auth_type: {client_auth_type}" + (
        f"\nclient_ca_file: {pki.ca}" if verifies else ""
    )
    web = load(tmp_path, tls_config(pki, extra))
    assert web.ssl_context is not None and web.ssl_context.verify_mode == mode
    # Only the configured CA is trusted for client certificates, never the system's.
    assert web.ssl_context.cert_store_stats()["x509_ca"] == (1 if verifies else 0)


# -- basic auth --------------------------------------------------------------------------------


class CountingCheck:
    """bcrypt.checkpw, counted."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, password: bytes, hashed: bytes) -> bool:
        self.calls += 1
        return bcrypt.checkpw(password, hashed)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def users(tmp_path: Path) -> WebConfig:
    text = f"basic_auth_users:\n  alice: {bcrypt_hash(PASSWORD)}\n  bob: {bcrypt_hash('other')}\n"
    return load(tmp_path, text)


def test_basic_auth_lets_the_right_password_in(users: WebConfig) -> None:
    with running(users) as server:
        response = requests.get(server.url + "metrics", auth=("alice", PASSWORD), timeout=5)
        assert response.status_code == 200
        assert value(response.text, "wolkvox_test_value") == 42


@pytest.mark.parametrize(
    "headers",
    [
        basic("alice", "wrong"),
        basic("bob", PASSWORD),  # another user's password
        basic("mallory", PASSWORD),
        basic("alice", "x" * 100),  # longer than bcrypt's 72 bytes
        {},
        {"Authorization": "Bearer " + PASSWORD},
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Basic " + base64.b64encode(b"alice").decode()},  # no colon
    ],
    ids=str.split(
        "wrong-password other-users-password unknown-user too-long no-header bearer"
        " bad-base64 no-colon"
    ),
)
def test_basic_auth_refuses_with_a_challenge(users: WebConfig, headers: dict[str, str]) -> None:
    with running(users) as server:
        for path in ("metrics", "", "ready", "nothing-here"):
            response = requests.get(server.url + path, headers=headers, timeout=5)
            assert response.status_code == 401, path
            assert response.headers["WWW-Authenticate"] == CHALLENGE
            assert "wolkvox" not in response.text and PASSWORD not in response.text


def test_healthz_needs_no_password(users: WebConfig) -> None:
    with running(users) as server:
        assert requests.get(server.url + "healthz", timeout=5).status_code == 200


def test_a_successful_check_is_remembered_and_a_failed_one_is_not(users: WebConfig) -> None:
    check = CountingCheck()
    with running(users, check) as server:

        def status(user: str, password: str) -> int:
            url = server.url + "metrics"
            return requests.get(url, headers=basic(user, password), timeout=5).status_code

        assert [status("alice", PASSWORD) for _ in range(5)] == [200] * 5
        assert check.calls == 1
        assert [status("alice", "wrong") for _ in range(2)] == [401] * 2
        assert check.calls == 3
        # An unknown user costs a bcrypt check too, so timing does not tell who exists.
        assert status("mallory", PASSWORD) == 401
        assert check.calls == 4


def test_the_cache_is_bounded_and_never_lets_a_wrong_pairing_in() -> None:
    users = {"a": bcrypt_hash("b:c").encode(), "a:b": bcrypt_hash("c").encode()}
    check = CountingCheck()
    auth = BasicAuth(users, check, cache_size=1)
    header = basic("a", "b:c")["Authorization"]
    assert auth.allows(header) and auth.allows(header)
    assert check.calls == 1
    assert not auth.allows(basic("a", "b")["Authorization"])
    assert not auth.allows(basic("a:", "b:c")["Authorization"])
    assert auth.allows(basic("a", "b:c")["Authorization"])
    assert check.calls == 3


def test_htpasswd_2y_hashes_work(tmp_path: Path) -> None:
    hashed = "$2y$" + bcrypt_hash(PASSWORD)[4:]  # htpasswd -B writes $2y$
    with running(load(tmp_path, f"basic_auth_users:\n  alice: {hashed}\n")) as server:
        response = requests.get(server.url + "metrics", auth=("alice", PASSWORD), timeout=5)
        assert response.status_code == 200


def test_basic_auth_without_tls_is_warned_about(users: WebConfig) -> None:
    assert any("clear text" in warning for warning in users.warnings)
    assert "alice" not in repr(users) and "$2b$" not in repr(users)


def test_configured_headers_are_on_every_response(tmp_path: Path) -> None:
    text = (f"basic_auth_users:\n  alice: {bcrypt_hash(PASSWORD)}\nhttp_server_config:\n"
            "  http2: true\n  headers:\n    X-Frame-Options: deny\n"
            "    Strict-Transport-Security: max-age=31536000\n"
            "    Content-Security-Policy: ''\n")  # fmt: skip
    with running(load(tmp_path, text)) as server:
        for auth in (None, ("alice", PASSWORD)):
            response = requests.get(server.url, auth=auth, timeout=5)
            assert response.headers["X-Frame-Options"] == "deny"
            assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
            assert "Content-Security-Policy" not in response.headers  # blank: unset, as in Go


# -- the command line and invalid configurations -----------------------------------------------

BAD_CONFIGS = {
    "bad-yaml": ("tls_server_config: [\n", "YAML syntax error"),
    "not-a-mapping": ("- a\n", "must be a mapping"),
    "user-twice": ("basic_auth_users:\n  a: {hash}\n  a: {hash}\n", "'a' is given twice"),
    "unknown-key": ("basic_auth_user:\n  a: {hash}\n", "did you mean basic_auth_users?"),
    "absurd-cost": ("basic_auth_users:\n  a: $2b$31$" + "a" * 53 + "\n", "bcrypt cost 31 is above"),
    "unknown-tls-key": ("{tls}  min_versio: TLS13\n", "did you mean min_version?"),
    "no-key-file": ("tls_server_config:\n  cert_file: {cert}\n", "key_file: is missing"),
    "no-cert-file": ("tls_server_config:\n  min_version: TLS13\n  key_file: {key}\n",
                     "cert_file: is missing"),
    "unreadable-cert": ("tls_server_config:\n  cert_file: nowhere.crt\n  key_file: {key}\n",
                        "nowhere.crt: cannot read: No such file or directory"),
    "cert-not-pem": ("tls_server_config:\n  cert_file: {key}\n  key_file: {key}\n",
                     "is not a PEM file of the server certificate"),
    "key-of-another-cert": ("tls_server_config:\n  cert_file: {cert}\n  key_file: {client_key}\n",
                            "it is not the key of the certificate"),
    "encrypted-key": ("tls_server_config:\n  cert_file: {cert}\n  key_file: {encrypted}\n",
                      "encrypted with a passphrase"),
    "bad-hash": ("basic_auth_users:\n  alice: secret\n", "basic_auth_users.alice: is not a bcrypt"),
    "verify-without-ca": ("{tls}  client_auth_type: RequireAndVerifyClientCert\n",
                          "needs client_ca_file"),
    "any-cert-without-ca": ("{tls}  client_auth_type: RequireAnyClientCert\n",
                            "needs client_ca_file"),
    "ca-without-client-auth": ("{tls}  client_ca_file: {ca}\n", "checks no client certificate"),
    "ca-not-a-certificate": ("{tls}  client_auth_type: RequireAndVerifyClientCert\n"
                             "  client_ca_file: {key}\n", "is not a PEM file of client CAs"),
    "bad-client-auth": ("{tls}  client_auth_type: Required\n", "'Required' is not one of"),
    "bad-version": ("{tls}  min_version: TLS14\n", "'TLS14' is not one of TLS10"),
    "min-above-max": ("{tls}  min_version: TLS13\n  max_version: TLS12\n", "above max_version"),
    "unknown-cipher": ("{tls}  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n", "is not supported"),
    "curves": ("{tls}  curve_preferences: [X25519]\n", "curve_preferences: is not supported"),
    "inline-key": ("{tls}  key: secret\n", "an inline key is not supported"),
    "rate-limit": ("rate_limit:\n  interval: 1s\n", "rate limiting is not supported"),
    "bad-header": ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
                   "'allow' is not one of deny, sameorigin"),
    "unknown-header": ("http_server_config:\n  headers:\n    Server: x\n", "cannot be set"),
}  # fmt: skip


def fill(text: str, pki: Pki) -> str:
    return text.format(
        tls=tls_config(pki),
        cert=pki.server_cert,
        key=pki.server_key,
        ca=pki.ca,
        client_key=pki.client_key,
        encrypted=pki.encrypted_key,
        hash=bcrypt_hash("x"),
    )


@pytest.mark.parametrize(("text", "says"), BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_a_bad_web_config_is_one_line_and_exit_2(
    tmp_path: Path, pki: Pki, text: str, says: str
) -> None:
    path = write_config(tmp_path, fill(text, pki))
    result = run_exporter(["--check-config", "--web.config.file", str(path)], env=CHECK_ENV)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"wolkvox-exporter: {path}") and says in line, line
    assert "Traceback" not in result.stderr


_KEYS = [
    "tls_server_config", "basic_auth_users", "http_server_config", "rate_limit", "cert_file",
    "key_file", "client_auth_type", "client_ca_file", "client_ca", "min_version", "cipher_suites",
    "prefer_server_cipher_suites", "headers", "http2", "X-Frame-Options", "alice",
]  # fmt: skip
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
    | st.sampled_from(
        [
            "TLS13",
            "RequireAndVerifyClientCert",
            "TLS_AES_128_GCM_SHA256",
            "deny",
            "",
            "$2b$04$" + "a" * 53,
        ]
    )
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(_KEYS) | _SCALARS.filter(bool), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=150, deadline=None)
@given(data=st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=4) | _VALUES)
def test_any_yaml_gives_a_config_or_one_line_problems(scratch: Path, data: object) -> None:
    path = write_config(scratch, yaml.safe_dump(data))
    try:
        load_web_config(path)
    except ConfigError as error:
        assert error.problems
        assert all(p.startswith(f"{path}: ") and p.isprintable() for p in error.problems)


def test_a_missing_web_config_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_exporter(["--web.config.file", str(tmp_path / "none.yml"), "--demo"])
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("wolkvox-exporter: ")
    assert line.endswith(
        "none.yml: cannot read: No such file or directory; check the path and permissions"
    )


def test_check_config_validates_a_good_web_config_with_relative_paths(
    tmp_path: Path, pki: Pki
) -> None:
    for pem in (pki.server_cert, pki.server_key, pki.ca):
        (tmp_path / pem.name).write_bytes(pem.read_bytes())
    extra = "client_auth_type: RequireAndVerifyClientCert\nclient_ca_file: ca.crt"
    relative = Pki(*(Path(path.name) for path in astuple(pki)))
    text = tls_config(relative, extra) + f"basic_auth_users:\n  alice: {bcrypt_hash(PASSWORD)}\n"
    path = write_config(tmp_path, text)
    result = run_exporter(["--check-config", "--web.config.file", str(path)], env=CHECK_ENV)
    assert result.returncode == 0, result.stderr
    web = "TLS on (client_auth_type RequireAndVerifyClientCert); basic auth 1 user(s)"
    assert f"web configuration OK: {web}" in result.stdout


def test_the_example_web_config_loads_once_its_hash_is_replaced(tmp_path: Path, pki: Pki) -> None:
    for pem in (pki.server_cert, pki.server_key):
        (tmp_path / pem.name).write_bytes(pem.read_bytes())
    example = (ROOT / "web-config.example.yml").read_text(encoding="utf-8")
    with pytest.raises(
        Exception, match=r"basic_auth_users\.prometheus: is not a bcrypt"
    ) as shipped:
        load(tmp_path, example)
    assert len(str(shipped.value).splitlines()) == 1  # the placeholder is the only problem
    web = load(tmp_path, example.replace("REPLACE-WITH-A-BCRYPT-HASH", bcrypt_hash(PASSWORD)))
    assert web.ssl_context is not None and list(web.users) == ["prometheus"]


# -- the real exporter, a real Prometheus ------------------------------------------------------


def test_prometheus_scrapes_over_https_with_a_password(tmp_path: Path, pki: Pki) -> None:
    password = secrets.token_urlsafe(16)
    hashed = bcrypt_hash(password)
    config = write_config(tmp_path, tls_config(pki) + f"basic_auth_users:\n  prom: {hashed}\n")
    with ExporterProcess(["--demo", "--web.config.file", str(config)]) as exporter:
        target = exporter.url.removeprefix("https://").rstrip("/")
        with PrometheusServer(
            tmp_path / "prometheus", target, scheme="https", tls_config={"ca_file": str(pki.ca)},
            basic_auth={"username": "prom", "password": password},
        ) as prometheus:  # fmt: skip
            prometheus.wait_for_targets_up()
            assert prometheus.values('up{job="wolkvox"}', "instance") == {target: 1.0}
            up = prometheus.wait_for_query("wolkvox_up == 1", lambda r: len(r) == 2)
            assert {s["metric"]["operation"] for s in up} == {"demo-bogota", "demo-mexico"}
            assert prometheus.query("wolkvox_campaign_records")
        landing = requests.get(exporter.url, auth=("prom", password), verify=pki.verify, timeout=5)
        assert landing.status_code == 200
        wrong = requests.get(exporter.url, auth=("prom", "no"), verify=pki.verify, timeout=5)
        assert wrong.status_code == 401
    for secret in (password, hashed, base64.b64encode(f"prom:{password}".encode()).decode()):
        assert secret not in exporter.log_text and secret not in landing.text
    assert 'web="TLS on (client_auth_type NoClientCert); basic auth 1 user(s)"' in exporter.log_text


# -- the Docker health check -------------------------------------------------------------------


def healthcheck(server_or_port: WebServer | int, *args: str) -> subprocess.CompletedProcess[str]:
    port = server_or_port if isinstance(server_or_port, int) else server_or_port.address[1]
    return subprocess.run(
        [sys.executable, "-m", "exporter.healthcheck", f"127.0.0.1:{port}", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=ROOT,
    )


def test_healthcheck_passes_over_https_and_http(tmp_path: Path, pki: Pki, users: WebConfig) -> None:
    with running(load(tmp_path, tls_config(pki))) as server:
        assert healthcheck(server).returncode == 0
    with running(users) as server:  # plain HTTP, and basic auth does not cover /healthz
        assert healthcheck(server).returncode == 0


def test_healthcheck_fails_when_unhealthy_or_nothing_listens() -> None:
    with running(WebConfig(), healthy=False) as server:
        result = healthcheck(server)
        assert result.returncode == 1 and "http: HTTP 503" in result.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connections are refused
        result = healthcheck(port)
    assert result.returncode == 1 and "unhealthy" in result.stderr


def test_healthcheck_under_mutual_tls_needs_a_client_certificate(tmp_path: Path, pki: Pki) -> None:
    extra = f"client_auth_type: RequireAndVerifyClientCert\nclient_ca_file: {pki.ca}"
    with running(load(tmp_path, tls_config(pki, extra))) as server:
        assert healthcheck(server).returncode == 1
        cert, key = pki.client
        assert healthcheck(server, "--cert-file", cert, "--key-file", key).returncode == 0
