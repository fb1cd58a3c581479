"""Everything about the Wolkvox campaigns API: one call, the answer, the campaigns, the failures.

Owns: the call (``client``: URL, the ``wolkvox-token`` header, no redirects, a size limit and a
whole-request deadline from ``deadline``), the ``{code, error, msg, data}`` envelope and its
HTTP errors (``envelope``), the campaign model (``model``: raw all-string rows to frozen
``Campaign``s and per-row ``Problem``s, pure) and the failure vocabulary (``failures``). Must not
touch metric names, scheduling, or the token in any message.
"""

from exporter.wolkvox.client import CONNECT_TIMEOUT, USER_AGENT, ApiResponse, CampaignsClient
from exporter.wolkvox.envelope import error_for_status, parse_envelope
from exporter.wolkvox.failures import FAILURE_REASONS, WolkvoxError
from exporter.wolkvox.model import (
    CAMPAIGN_STATES,
    MAX_COUNT,
    PARSE_FIELDS,
    STARTED,
    STOPPED,
    UNKNOWN,
    Campaign,
    ParsedCampaigns,
    Problem,
    parse_campaign,
    parse_campaigns,
    parse_last_use,
)

__all__ = [
    "CAMPAIGN_STATES",
    "CONNECT_TIMEOUT",
    "FAILURE_REASONS",
    "MAX_COUNT",
    "PARSE_FIELDS",
    "STARTED",
    "STOPPED",
    "UNKNOWN",
    "USER_AGENT",
    "ApiResponse",
    "Campaign",
    "CampaignsClient",
    "ParsedCampaigns",
    "Problem",
    "WolkvoxError",
    "error_for_status",
    "parse_campaign",
    "parse_campaigns",
    "parse_envelope",
    "parse_last_use",
]
