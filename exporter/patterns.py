"""Campaign name patterns: RE2, searched case-insensitively (pure).

``campaign_filter`` names and ``expected_started``'s ``campaign_name`` are RE2 patterns. RE2
cannot backtrack: its time grows with the name, never exponentially with the pattern, so a
pattern like ``(a+)+$`` cannot stall a refresh or a rendering (Python's ``re`` takes 1.5 s on
a 25-character name, doubling with each more). RE2 has no backreferences or lookarounds.
"""

from __future__ import annotations

from typing import Any

import re2


def compile_pattern(text: str) -> Any:
    """``text`` compiled as a case-insensitive RE2 pattern (a ``search(name)`` is a match or
    None). Raises ValueError "not a valid RE2 pattern (why); how to fix" for bad syntax."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # the error is ours to report, in one line
    try:
        return re2.compile(text, options)
    except re2.error as error:
        arg = error.args[0] if error.args else "invalid"
        why = arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)
        raise ValueError(
            f"not a valid RE2 pattern ({why}); RE2 has no backreferences or lookarounds, "
            "escape special characters with \\"
        ) from None
