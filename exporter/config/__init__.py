"""The configuration: a YAML file or environment variables in, frozen dataclasses out.

The smallest file (config.example.yaml documents every key with its default)::

    operations:
      - name: bogota
        server: "0032"            # https://wv0032.wolkvox.com
        token: ${WOLKVOX_TOKEN}   # or token_file: /run/secrets/wolkvox_token

Top-level ``refresh_interval``, ``timeout``, ``timezone``, ``max_data_age``,
``max_response_bytes`` and ``expected_started`` are defaults that each operation may override.
The rules and their sources (API.md unless said otherwise):

- ``server`` is 4 digits *as text*: ``0032`` and ``32`` are different hosts, and YAML reads an
  unquoted ``0032`` as the octal number 26, so a number is an error asking for quotes.
- one call per token every 5 minutes is Wolkvox's documented cadence, and every call costs one
  of the operation's licences x 1000 daily calls: faster is allowed, with a warning.
- a call may run 60 s on the server, hence the 65 s whole-request timeout.
- ``${VAR}`` is expanded from the environment in ``token``, ``token_file``, ``server`` and
  ``base_url`` only (so a secret need not be written in the file); elsewhere ``$`` is literal,
  because ``campaign_name`` is a regular expression.
- a relative ``token_file`` is relative to the configuration file's directory (as Prometheus
  does); the file is read at load time to check it, and again before every call.
- unknown keys are errors, so a typo cannot fall back to a default silently.

Problems are gathered and raised as one ConfigError, one line each "path: what is wrong; how to
fix it". A token's value never appears in a message or a repr.

Owns: reading files and variables (``load``, the only user of yaml), the document walker
(``parser``), single values (``values``) and the frozen dataclasses with their defaults
(``types``). Must not touch the network, logging setup or prometheus_client.
"""

from exporter.config.filters import CampaignFilter
from exporter.config.load import (
    ENVIRONMENT_VARIABLES,
    config_from_environ,
    environ_warnings,
    load_config,
    load_configuration,
    parse_config,
    read_yaml_file,
)
from exporter.config.types import (
    CAMPAIGNS_PATH,
    DEFAULT_MAX_CAMPAIGNS,
    DEFAULT_MAX_DATA_AGE,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_REFRESH_INTERVAL,
    DEFAULT_TIMEOUT,
    DEFAULT_TIMEZONE,
    WOLKVOX_CALL_LIMIT,
    Config,
    OperationConfig,
    TokenSource,
)
from exporter.config.values import parse_duration, parse_size

__all__ = [
    "CAMPAIGNS_PATH",
    "DEFAULT_MAX_CAMPAIGNS",
    "DEFAULT_MAX_DATA_AGE",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_REFRESH_INTERVAL",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TIMEZONE",
    "ENVIRONMENT_VARIABLES",
    "WOLKVOX_CALL_LIMIT",
    "CampaignFilter",
    "Config",
    "OperationConfig",
    "TokenSource",
    "config_from_environ",
    "environ_warnings",
    "load_config",
    "load_configuration",
    "parse_config",
    "parse_duration",
    "parse_size",
    "read_yaml_file",
]
