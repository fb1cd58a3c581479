"""The configuration as a user meets it: files, environment variables, and the errors they get."""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from exporter.config import (
    CAMPAIGNS_PATH,
    DEFAULT_MAX_DATA_AGE,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_REFRESH_INTERVAL,
    DEFAULT_TIMEOUT,
    Config,
    TokenSource,
    config_from_environ,
    load_config,
    parse_config,
    parse_duration,
    parse_size,
)
from exporter.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "tests" / "data" / "config"
TOKEN = "3f2a9c1be07d4a5f8e6b2c9d0a1f7e3b5c8d2e4f6a0b1c3d5e"  # fake, shaped like a real one
ENV = {"WOLKVOX_TOKEN": TOKEN}


def operation(*, without: tuple[str, ...] = (), **keys: object) -> dict[str, object]:
    """A valid operation mapping, with ``keys`` changed and the keys ``without`` left out."""
    op = {"name": "bogota", "server": "0032", "token": "${WOLKVOX_TOKEN}", **keys}
    return {key: value for key, value in op.items() if key not in without}


def write(text: str, directory: Path) -> Path:
    """Write ``text`` as ``directory/config.yaml`` and return its path."""
    path = directory / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def uncomment(text: str, first: str) -> str:
    """Uncomment the block of "# " lines that starts with the commented line ``# first``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"# {first}")
    indent = " " * lines[start].index("#")
    end = start
    while end < len(lines) and lines[end].startswith(f"{indent}# "):
        lines[end] = indent + lines[end][len(indent) + 2 :]
        end += 1
    return "\n".join(lines) + "\n"


def problems(data: object, environ: dict[str, str] | None = None) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, ENV if environ is None else environ)
    return caught.value.problems


def expected_problems(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    prefix = "# expect: "
    return [
        line[len(prefix) :].replace("{dir}", str(CONFIGS))
        for line in lines
        if line.startswith(prefix)
    ]


# --- whole files ---------------------------------------------------------------------------


def test_example_config_is_valid() -> None:
    config = load_config(REPO / "config.example.yaml", ENV)

    (op,) = config.operations
    assert op.name == "bogota"
    assert op.server == "0032"
    assert op.url == "https://wv0032.wolkvox.com" + CAMPAIGNS_PATH
    assert op.token.read() == TOKEN
    assert op.refresh_interval == DEFAULT_REFRESH_INTERVAL == 300.0
    assert op.timeout == DEFAULT_TIMEOUT == 65.0
    assert op.timezone == ZoneInfo("America/Bogota")
    assert op.max_data_age == DEFAULT_MAX_DATA_AGE == 3600.0
    assert op.max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES == 64 * 1024 * 1024
    assert op.expected_started == ()
    assert config.warnings() == []


def test_example_config_documents_every_key() -> None:
    text = (REPO / "config.example.yaml").read_text(encoding="utf-8")
    keys = ["refresh_interval", "timeout", "timezone", "max_data_age", "max_response_bytes"]
    keys += ["expected_started", "operations", "name", "server", "base_url", "token"]
    keys += ["token_file", "days", "hours", "campaign_ids", "campaign_name", "state_directory"]
    for key in keys:
        assert re.search(rf"^\s*#?\s*-?\s*{key}:", text, re.MULTILINE), key


def test_commented_examples_in_the_example_config_are_valid(tmp_path: Path) -> None:
    example = (REPO / "config.example.yaml").read_text(encoding="utf-8")

    top = uncomment(example.replace("expected_started: []\n", ""), "expected_started:")
    overrides = uncomment(example, "refresh_interval: 10m")
    base_url = uncomment(
        example.replace('    server: "0032"\n', ""), "base_url: http://127.0.0.1:8080"
    )
    token_file = uncomment(
        example.replace("    token: ${WOLKVOX_TOKEN}\n", ""),
        "token_file: /run/secrets/wolkvox_token",
    ).replace("/run/secrets/wolkvox_token", str(tmp_path / "secret"))
    (tmp_path / "secret").write_text(TOKEN)

    windows = load_config(write(top, tmp_path), ENV).operations[0].expected_started
    assert [(w.days, w.start, w.end) for w in windows] == [
        (frozenset(range(5)), 480, 1080),
        (frozenset({5}), 480, 780),
    ]
    (op,) = load_config(write(overrides, tmp_path), ENV).operations
    assert (op.refresh_interval, op.timezone.key, len(op.expected_started)) == (
        600.0,
        "America/Mexico_City",
        1,
    )
    (op,) = load_config(write(base_url, tmp_path), ENV).operations
    assert (op.base_url, op.server) == ("http://127.0.0.1:8080", None)
    (op,) = load_config(write(token_file, tmp_path), {}).operations
    assert op.token == TokenSource(file=tmp_path / "secret")


def test_minimal_file_takes_every_default() -> None:
    (op,) = load_config(CONFIGS / "good_minimal.yaml", ENV).operations

    assert (op.refresh_interval, op.timeout, op.max_data_age) == (300.0, 65.0, 3600.0)
    assert op.timezone.key == "America/Bogota"
    assert op.max_response_bytes == 64 * 1024 * 1024
    assert op.base_url == "https://wv0032.wolkvox.com"


def test_operations_override_the_top_level_defaults() -> None:
    bogota, mexico, madrid = load_config(CONFIGS / "good_overrides.yaml", ENV).operations

    assert (bogota.refresh_interval, bogota.timeout, bogota.max_data_age) == (600.0, 30.0, 0.0)
    assert bogota.max_response_bytes == 8 * 1024 * 1024
    assert [(w.days, w.start, w.end) for w in bogota.expected_started] == [
        (frozenset(range(5)), 8 * 60, 18 * 60)
    ]
    assert mexico.base_url == "http://127.0.0.1:8080"
    assert mexico.server is None
    assert mexico.url == "http://127.0.0.1:8080/api/v2/information.php?api=campaigns"
    assert mexico.token == TokenSource(file=CONFIGS / "token.txt")
    assert mexico.token.read() == TOKEN
    assert (mexico.refresh_interval, mexico.timeout, mexico.max_data_age) == (5400.0, 1.5, 10800.0)
    assert mexico.timezone.key == "America/Mexico_City"
    assert mexico.max_response_bytes == 1048576
    (window,) = mexico.expected_started
    assert (window.days, window.start, window.end) == (frozenset({5, 6}), 22 * 60, 6 * 60)
    assert window.campaign_ids == frozenset({"10452", "10453"})
    assert window.campaign_name is not None and window.campaign_name.pattern == "^Cobranza"
    assert madrid.expected_started == ()  # its own empty list replaces the default


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("bad_*.yaml")), ids=lambda p: p.stem)
def test_each_bad_file_reports_exactly_its_problems(path: Path) -> None:
    expected = expected_problems(path)
    assert expected, f"{path.name} has no '# expect:' lines"

    with pytest.raises(ConfigError) as caught:
        load_config(path, ENV)

    assert list(caught.value.problems) == expected
    assert str(caught.value) == "\n".join(expected)


def test_every_problem_is_reported_at_once() -> None:
    data = {
        "timeout": "soon",
        "operations": [
            operation(server=32, tokn="x"),
            operation(name="bogota", timezone="Bogota", expected_started=[{"days": "someday"}]),
            "not an operation",
        ],
    }

    lines = problems(data)

    paths = [line.partition(": ")[0] for line in lines]
    assert paths == [
        "timeout",
        "operations[0].tokn",
        "operations[0].server",
        "operations[1].timezone",
        "operations[1].expected_started[0].days",
        "operations[1].expected_started[0].hours",
        "operations[1].name",
        "operations[2]",
    ]
    assert all(re.fullmatch(r"[^:]+: [^;]+; .+", line) for line in lines), lines


START = "start from config.example.yaml"
ADD = "add a list of operations, each item '- name:' with server and token"


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (None, f"config: the file is empty; {START}"),
        ({}, f"config: the file is empty; {START}"),
        ("x", f'config: the file is "x", not keys and values; {START}'),
        (3, f"config: the file is the number 3, not keys and values; {START}"),
        ([{"name": "a"}], f"config: the file is a list, not keys and values; {START}"),
        ({"operations": []}, f"operations: is missing or empty; {ADD}"),
        ({"operations": "bogota"}, f'operations: is "bogota", not a list; {ADD}'),
        (
            {"operations": [None]},
            "operations[0]: is nothing; each operation is a mapping with name, server and token",
        ),
    ],
)
def test_a_document_of_the_wrong_shape_is_one_clear_problem(data: object, line: str) -> None:
    assert problems(data) == (line,)


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing, ENV)
    assert caught.value.problems == (
        f"{missing}: cannot read: No such file or directory; check the path and permissions",
    )


def test_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("operations: [{name: bogotá}]".encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_config(path, ENV)
    assert caught.value.problems == (f"{path}: is not UTF-8 text; save it as UTF-8",)


def test_yaml_anchors_and_merge_keys_still_work(tmp_path: Path) -> None:
    text = """
operations:
  - &first {name: bogota, server: "0032", token: "${WOLKVOX_TOKEN}", timeout: 10}
  - <<: *first
    name: cali
    server: "0033"
"""
    bogota, cali = load_config(write(text, tmp_path), ENV).operations
    assert (cali.name, cali.server, cali.timeout) == ("cali", "0033", 10.0)
    assert cali.token == bogota.token


# --- single keys ---------------------------------------------------------------------------


def test_unset_variable_is_named_in_the_error() -> None:
    assert problems({"operations": [operation()]}, environ={}) == (
        "operations[0].token: environment variable WOLKVOX_TOKEN is not set;"
        " export it before starting the exporter",
    )


def test_an_empty_variable_is_called_empty_not_unset() -> None:
    assert problems({"operations": [operation()]}, environ={"WOLKVOX_TOKEN": " "}) == (
        "operations[0].token: environment variable WOLKVOX_TOKEN is empty;"
        " export it before starting the exporter",
    )


def test_variables_are_expanded_in_server_base_url_token_and_token_file(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("from-file\n")
    environ = {"SRV": "0032", "HOST": "127.0.0.1", "TOK": "t0k", "DIR": str(tmp_path)}
    data = {
        "operations": [
            operation(name="a", server="${SRV}", token="prefix-${TOK}"),
            operation(name="b", base_url="http://${HOST}:9", token="${TOK}", without=("server",)),
            operation(name="c", token_file="${DIR}/secret", without=("token",)),
        ]
    }

    a, b, c = parse_config(data, environ).operations

    assert (a.server, a.token.read()) == ("0032", "prefix-t0k")
    assert (b.base_url, b.token.read()) == ("http://127.0.0.1:9", "t0k")
    assert c.token.read() == "from-file"


def test_dollar_is_literal_outside_the_expanded_keys() -> None:
    window = {"days": "daily", "hours": "00:00-24:00", "campaign_name": "Cobranza${X}|Ventas$"}
    (op,) = parse_config({"operations": [operation(expected_started=[window])]}, ENV).operations
    assert op.expected_started[0].campaign_name is not None
    assert op.expected_started[0].campaign_name.pattern == "Cobranza${X}|Ventas$"


@pytest.mark.parametrize("token", ["${WOLKVOX TOKEN}", "${WOLKVOX_TOKEN", "${}"])
def test_malformed_variable_reference_is_an_error(token: str) -> None:
    assert problems({"operations": [operation(token=token)]}) == (
        'operations[0].token: a "${" must be followed by a variable name and "}",'
        " like ${WOLKVOX_TOKEN}",
    )


def test_server_given_as_a_yaml_number_asks_for_quotes(tmp_path: Path) -> None:
    path = write('operations: [{name: bogota, server: 0032, token: "${WOLKVOX_TOKEN}"}]', tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config(path, ENV)
    (line,) = caught.value.problems
    assert line.startswith('operations[0].server: must be quoted digits like "0032" (YAML read 26')


@pytest.mark.parametrize(
    ("given", "base_url"),
    [
        ("https://wv0032.wolkvox.com", "https://wv0032.wolkvox.com"),
        ("https://wv0032.wolkvox.com/", "https://wv0032.wolkvox.com"),
        ("HTTP://Example.COM:8080", "http://example.com:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        (" http://127.0.0.1:9 ", "http://127.0.0.1:9"),
    ],
)
def test_base_url_is_normalised(given: str, base_url: str) -> None:
    data = {"operations": [operation(base_url=given, without=("server",))]}
    (op,) = parse_config(data, ENV).operations
    assert op.base_url == base_url
    assert op.url == base_url + CAMPAIGNS_PATH


@pytest.mark.parametrize(
    "given",
    [
        "https://admin:s3cret@intranet.example",
        "https://intranet.example/api",
        "https://intranet.example?api=campaigns",
        "https://intranet.example#x",
        "ftp://intranet.example",
        "https://",
        "https://intranet .example",
        "http://[::1",
        "",
    ],
)
def test_bad_base_url_is_refused_without_repeating_it(given: str) -> None:
    data = {"operations": [{"name": "a", "base_url": given, "token": "t"}]}
    (line,) = problems(data)
    assert line.startswith("operations[0].base_url: ")
    assert "s3cret" not in line and "intranet" not in line


def test_unknown_time_zone_suggests_the_iana_name() -> None:
    data = {"timezone": "mexico city", "operations": [operation()]}
    assert problems(data) == (
        'timezone: unknown time zone "mexico city"; use an IANA name such as America/Mexico_City',
    )


def test_timezone_accepts_any_iana_name() -> None:
    (op,) = parse_config({"operations": [operation(timezone="Europe/Madrid")]}, ENV).operations
    assert op.timezone == ZoneInfo("Europe/Madrid")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (300, 300.0), (300.0, 300.0), (1.5, 1.5), ("300", 300.0), (" 300 ", 300.0),
        ("300s", 300.0), ("5m", 300.0), ("1h", 3600.0), ("1h30m", 5400.0), ("1.5s", 1.5),
        ("500ms", 0.5), ("1d", 86400.0), ("1m30s", 90.0), (0, 0.0), ("0s", 0.0),
    ],
)  # fmt: skip
def test_parse_duration_reads_seconds_and_prometheus_units(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value",
    [True, False, None, "", "5 m", "5min", "5M", "-5s", -1, "1e3", float("nan"), float("inf"),
     [300], "h", "1h30", 10**400, "1.s"],
)  # fmt: skip
def test_parse_duration_refuses_anything_else(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (1048576, 1048576), ("64MiB", 64 * 2**20), ("64mib", 64 * 2**20), ("500MB", 500 * 10**6),
        ("1.5GiB", 3 * 2**29), ("1 KiB", 1024), ("10B", 10), ("123", 123), (2048.0, 2048),
        ("2KB", 2000),
    ],
)  # fmt: skip
def test_parse_size_reads_bytes_and_units(value: object, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize("value", [True, -1, "-1", "lots", "64 MiBs", "64M", 1.5, None, "", [1]])
def test_parse_size_refuses_anything_else(value: object) -> None:
    with pytest.raises(ValueError):
        parse_size(value)


def test_zero_max_data_age_means_forever_but_zero_intervals_are_refused() -> None:
    (op,) = parse_config({"max_data_age": 0, "operations": [operation()]}, ENV).operations
    assert op.max_data_age == 0.0
    assert [
        p.partition(":")[0] for p in problems({"timeout": "0s", "operations": [operation()]})
    ] == ["timeout"]


# --- the token -----------------------------------------------------------------------------


def test_token_never_appears_in_repr_or_errors(tmp_path: Path) -> None:
    good = parse_config({"operations": [operation()]}, ENV)
    assert TOKEN not in repr(good)
    assert TOKEN not in str(good.operations[0].token)

    bad_file = tmp_path / "two-words"
    bad_file.write_text(f"{TOKEN} {TOKEN}")
    data = {
        "timeout": TOKEN,  # a token pasted under the wrong key
        "operations": [
            operation(name="a", token=f"{TOKEN} x"),  # two words
            operation(name="b", token=f"${{{TOKEN}}}"),  # the token put inside ${...}
            operation(name="c", token=int(TOKEN[:10], 16)),  # a number
            operation(name="d", token_file=str(bad_file), without=("token",)),
            operation(name="e", base_url=f"https://{TOKEN}:x@host", without=("server",)),
        ],
    }

    lines = problems(data)

    assert len(lines) == 6, lines
    assert TOKEN not in "\n".join(lines)
    assert TOKEN[:20] not in "\n".join(lines)
    assert str(int(TOKEN[:10], 16)) not in "\n".join(lines)


def test_token_file_is_read_anew_after_rotation(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("first-token\n")
    path = write(f"operations: [{{name: a, server: '0032', token_file: {secret}}}]", tmp_path)
    (op,) = load_config(path, {}).operations
    assert op.token.read() == "first-token"

    secret.write_text("  second-token  \n")
    assert op.token.read() == "second-token"

    secret.unlink()
    with pytest.raises(ConfigError) as caught:
        op.token.read()
    assert caught.value.problems == (
        f"token_file: cannot read {secret}: No such file or directory;"
        " check the path and that the exporter's user may read it",
    )


def test_token_file_that_is_not_a_token_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    for content in [b"", b" \n\t", b"token with spaces", "tökén".encode(), b"x" * 5000]:
        secret.write_bytes(content)
        with pytest.raises(ConfigError) as caught:
            TokenSource(file=secret).read()
        (line,) = caught.value.problems
        assert line.startswith(f"token_file: {secret} ")
        assert "token with spaces" not in line


def test_relative_token_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "token").write_text("abc\n")
    path = write("operations: [{name: a, server: '0032', token_file: sub/token}]", tmp_path)

    (op,) = load_config(path, {}).operations

    assert op.token.file == tmp_path / "sub" / "token"
    assert op.token.read() == "abc"


def test_token_source_needs_exactly_one_origin() -> None:
    with pytest.raises(ValueError):
        TokenSource()
    with pytest.raises(ValueError):
        TokenSource(value="x", file=Path("/x"))


# --- warnings ------------------------------------------------------------------------------


def test_warnings_name_fast_refreshes_and_shared_tokens(tmp_path: Path) -> None:
    (tmp_path / "t").write_text("zzz")
    (tmp_path / "t").chmod(0o600)
    data = {
        "operations": [
            operation(name="bogota", refresh_interval="2m"),
            operation(name="cali", server="0033"),
            operation(name="lima", server="0034", token="other", refresh_interval=300),
            operation(name="quito", token_file=str(tmp_path / "t"), without=("token",)),
            operation(name="pasto", token_file=str(tmp_path / "t"), without=("token",)),
            operation(name="tumaco", server="0035", token="third", timeout="20s"),
        ]
    }

    warnings = parse_config(data, ENV).warnings()

    assert warnings == [
        "operation bogota: refresh_interval 120s is below Wolkvox's 5 minutes; it spends 720"
        " calls a day of the operation's daily quota (licences x 1000)",
        "operation tumaco: timeout 20s is below the 60 s a call may run on Wolkvox; an abandoned"
        " call may still hold the token when the next one starts (Wolkvox allows one request at"
        " a time per token)",
        "operations bogota, cali share a token; they take turns on it, so each is refreshed"
        " every 2 x its refresh_interval",
        "operations quito, pasto share a token; they take turns on it, so each is refreshed"
        " every 2 x its refresh_interval",
    ]
    assert all(TOKEN not in line for line in warnings)


# --- the environment -----------------------------------------------------------------------


def test_environment_without_wolkvox_variables_is_no_config() -> None:
    assert config_from_environ({"HOME": "/root", "WOLKVOX_TIMEZONE": "UTC"}) is None
    assert config_from_environ({"WOLKVOX_SERVER": "", "WOLKVOX_TOKEN": "  "}) is None


def test_environment_builds_one_operation(tmp_path: Path) -> None:
    (tmp_path / "t").write_text(TOKEN)
    config = config_from_environ(
        {
            "WOLKVOX_SERVER": "0032",
            "WOLKVOX_TOKEN_FILE": str(tmp_path / "t"),
            "WOLKVOX_OPERATION": "bogota",
            "WOLKVOX_REFRESH_INTERVAL": "10m",
            "WOLKVOX_TIMEZONE": "America/Mexico_City",
            "WOLKVOX_MAX_RESPONSE_BYTES": "1MiB",
        }
    )
    assert config is not None
    (op,) = config.operations
    assert (op.name, op.server, op.refresh_interval) == ("bogota", "0032", 600.0)
    assert (op.timezone.key, op.max_response_bytes, op.timeout) == (
        "America/Mexico_City",
        2**20,
        65.0,
    )
    assert op.token.read() == TOKEN


def test_environment_defaults_the_operation_name_and_takes_a_base_url() -> None:
    config = config_from_environ(
        {"WOLKVOX_BASE_URL": "http://127.0.0.1:8080", "WOLKVOX_TOKEN": "t"}
    )
    assert config is not None
    (op,) = config.operations
    assert (op.name, op.server, op.base_url, op.token.read()) == (
        "default",
        None,
        "http://127.0.0.1:8080",
        "t",
    )


@pytest.mark.parametrize(
    ("environ", "lines"),
    [
        (
            {"WOLKVOX_TOKEN": TOKEN},
            [
                "WOLKVOX_SERVER: is not set; set WOLKVOX_SERVER to the 4 digits of wvNNNN, e.g."
                " 0032 (or WOLKVOX_BASE_URL to a URL)"
            ],
        ),
        (
            {"WOLKVOX_SERVER": "0032"},
            [
                "WOLKVOX_TOKEN: is not set; set WOLKVOX_TOKEN to the token,"
                " or WOLKVOX_TOKEN_FILE to a file holding it"
            ],
        ),
        (
            {"WOLKVOX_SERVER": "0032", "WOLKVOX_TOKEN": " "},
            [
                "WOLKVOX_TOKEN: is empty; set WOLKVOX_TOKEN to the token,"
                " or WOLKVOX_TOKEN_FILE to a file holding it"
            ],
        ),
        (
            {"WOLKVOX_SERVER": "0032", "WOLKVOX_TOKEN_FILE": ""},
            [
                "WOLKVOX_TOKEN_FILE: is empty; set WOLKVOX_TOKEN to the token,"
                " or WOLKVOX_TOKEN_FILE to a file holding it"
            ],
        ),
        (
            {"WOLKVOX_SERVER": "0032", "WOLKVOX_TOKN": TOKEN},
            ["WOLKVOX_TOKEN: is not set; WOLKVOX_TOKN is set: did you mean WOLKVOX_TOKEN?"],
        ),
        (  # only misspelt names: still an error, not "no configuration"
            {"WOLKVOX_SERVR": "0032", "WOLKVOX_TOKEN_FIL": "/run/secret"},
            [
                "WOLKVOX_SERVER: is not set; WOLKVOX_SERVR is set: did you mean WOLKVOX_SERVER?",
                "WOLKVOX_TOKEN: is not set; WOLKVOX_TOKEN_FIL is set: did you mean"
                " WOLKVOX_TOKEN_FILE?",
            ],
        ),
        (
            {"WOLKVOX_SERVER": "0032", "WOLKVOX_BASE_URL": "http://x", "WOLKVOX_TOKEN": TOKEN},
            ["WOLKVOX_SERVER: is set together with WOLKVOX_BASE_URL; unset one of them"],
        ),
        (
            {
                "WOLKVOX_SERVER": "32",
                "WOLKVOX_TOKEN": TOKEN,
                "WOLKVOX_TIMEOUT": "0",
                "WOLKVOX_OPERATION": "a b",
            },
            [
                'WOLKVOX_TIMEOUT: must be more than 0; write e.g. "5m"',
                'WOLKVOX_OPERATION: "a b" is not a valid name; use 1-64 letters, digits, "_", "."'
                ' or "-", e.g. name: bogota',
                'WOLKVOX_SERVER: "32" is not 4 digits; write the 4 digits of your host wvNNNN,'
                ' e.g. "0032"',
            ],
        ),
        ({"WOLKVOX_SERVER": "0032", "WOLKVOX_TOKEN": "${X}"}, []),  # no ${VAR} expansion here
    ],
)
def test_environment_errors_name_the_variables(environ: dict[str, str], lines: list[str]) -> None:
    if not lines:
        config = config_from_environ(environ)
        assert config is not None and config.operations[0].token.read() == "${X}"
        return
    with pytest.raises(ConfigError) as caught:
        config_from_environ(environ)
    assert list(caught.value.problems) == lines
    assert TOKEN not in str(caught.value)


def test_config_is_frozen() -> None:
    config = parse_config({"operations": [operation()]}, ENV)
    assert isinstance(config, Config)
    with pytest.raises(AttributeError):
        config.operations[0].name = "other"  # type: ignore[misc]


def test_max_campaigns_defaults_overrides_and_rejects_nonsense() -> None:
    data = {
        "max_campaigns": 500,
        "operations": [operation(name="a"), operation(name="b", server="0033", max_campaigns="7")],
    }
    a, b = parse_config(data, ENV).operations
    assert (a.max_campaigns, b.max_campaigns) == (500, 7)
    assert parse_config({"operations": [operation()]}, ENV).operations[0].max_campaigns == 2000
    for bad in (0, -1, "many", 1.5, True):
        [line] = problems({"max_campaigns": bad, "operations": [operation()]})
        assert line.startswith("max_campaigns: ") and "whole number of at least 1" in line


def test_a_token_file_every_user_can_read_is_warned_about(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(TOKEN)
    secret.chmod(0o644)
    config = parse_config(
        {"operations": [operation(token_file=str(secret), without=("token",))]}, ENV
    )
    [line] = config.warnings()
    assert (
        line == f"operation bogota: token_file {secret} can be read by every user (mode 0644);"
        " chmod 600 it"
    )
    secret.chmod(0o600)
    assert config.warnings() == []


def test_a_token_given_under_another_key_is_never_printed() -> None:
    token = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"  # not 20 hex digits in a row: no heuristic
    with pytest.raises(ConfigError) as caught:
        config_from_environ({"WOLKVOX_SERVER": token, "WOLKVOX_TOKEN": token})
    assert token not in str(caught.value)
    assert "WOLKVOX_SERVER" in str(caught.value)
    data = {"operations": [operation(server="${WOLKVOX_TOKEN}", token="${WOLKVOX_TOKEN}")]}
    line = problems(data, {"WOLKVOX_TOKEN": token})[0]
    assert token not in line
    assert line.startswith('operations[0].server: "${WOLKVOX_TOKEN}" is not 4 digits')


@pytest.mark.parametrize(
    ("given", "expected"), [("/var/lib/w", "/var/lib/w"), ("", ""), (None, None)]
)
def test_state_directory_is_a_top_level_path_or_empty_for_none(
    given: str | None, expected: str | None
) -> None:
    document: dict[str, object] = {"operations": [{"name": "a", "server": "0032", "token": TOKEN}]}
    if given is not None:
        document["state_directory"] = given
    assert parse_config(document, ENV).state_directory == expected


def test_state_directory_must_be_text_and_top_level() -> None:
    op = {"name": "a", "server": "0032", "token": TOKEN, "state_directory": "/x"}
    with pytest.raises(ConfigError) as error:
        parse_config({"state_directory": 5, "operations": [op]}, ENV)
    assert [line.split(":")[0] for line in error.value.problems] == [
        "operations[0].state_directory",
        "state_directory",
    ]


def test_max_data_age_defaults_to_three_effective_intervals_when_that_is_longer() -> None:
    shared = [operation(name=n, server=s, refresh_interval="30m") for n, s in (("a", "0032"),
              ("b", "0033"))]  # fmt: skip
    alone = operation(name="c", server="0034", token="other-token")
    config = parse_config({"operations": [*shared, alone]}, ENV)
    ages = {op.name: op.max_data_age for op in config.operations}
    assert ages == {"a": 3 * 3600.0, "b": 3 * 3600.0, "c": DEFAULT_MAX_DATA_AGE}


def test_a_daily_quota_warns_when_the_interval_spends_more_than_its_share() -> None:
    ops = [
        operation(name="a", daily_quota=1000),  # 288 calls: 29%, within the default 30%
        operation(name="b", server="0033", token="t-b", daily_quota=1000, max_quota_share="25%"),
        operation(name="c", server="0034", token="t-c", daily_quota="x"),
    ]
    with pytest.raises(ConfigError) as error:
        parse_config({"operations": ops}, ENV)
    assert error.value.problems == (
        'operations[2].daily_quota: "x" is not a whole number of at least 1; write e.g. 2000',
    )
    config = parse_config({"operations": ops[:2]}, ENV)
    assert [op.daily_quota for op in config.operations] == [1000, 1000]
    assert config.operations[1].max_quota_share == 0.25
    assert [w for w in config.warnings() if "daily_quota" in w] == [
        "operation b: refresh_interval 300s spends 288 calls a day, 29% of its daily_quota 1000,"
        " more than max_quota_share 25%; the quota is shared with the operation's other"
        " integrations"
    ]
