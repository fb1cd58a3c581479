"""The test helpers that decide what a run on a machine without the tools does."""

from __future__ import annotations

import pytest

from tests.helpers import REQUIRE_TOOLS, tool

_MISSING = "wolkvox-no-such-tool"


def test_a_missing_tool_skips_with_the_package_to_install() -> None:
    with pytest.raises(pytest.skip.Exception, match="prometheus-alertmanager"):
        tool(_MISSING, environ={})


@pytest.mark.parametrize("flag", ["", "0"])
def test_a_missing_tool_still_skips_when_the_flag_is_off(flag: str) -> None:
    with pytest.raises(pytest.skip.Exception):
        tool(_MISSING, environ={REQUIRE_TOOLS: flag})


def test_a_missing_tool_fails_when_ci_requires_the_tools() -> None:
    with pytest.raises(pytest.fail.Exception, match=f"{_MISSING} not found"):
        tool(_MISSING, environ={REQUIRE_TOOLS: "1"})


def test_a_present_tool_is_found_by_its_first_installed_name() -> None:
    assert tool(_MISSING, "python3", environ={REQUIRE_TOOLS: "1"}).endswith("python3")
