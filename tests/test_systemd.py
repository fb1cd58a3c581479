"""The systemd unit: `systemd-analyze verify` clean, hardened, and its environment file works.

No systemd runs here (no PID 1 manager), so the unit is checked offline: `verify` parses every
directive and checks the command exists; `security --offline` scores the sandbox.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.exporter_process import run_exporter
from tests.helpers import optional_tool, samples_of

ROOT = Path(__file__).parent.parent
UNIT = ROOT / "deploy" / "systemd" / "wolkvox-exporter.service"
DEFAULTS = ROOT / "deploy" / "systemd" / "wolkvox-exporter.default"
INSTALLED = "/opt/wolkvox-exporter/bin/wolkvox-exporter"  # where the README installs it


def directives(text: str) -> dict[str, list[str]]:
    """``Section.Key`` -> every value given, in order (systemd allows repeats)."""
    found: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key}", []).append(value)
    return found


def verify(tmp_path: Path, text: str) -> list[str]:
    """What `systemd-analyze verify` says about ``text``, with ExecStart on this test's exporter.

    verify exits 0 after a misspelt key or a bad value (it only warns), so every line it prints
    counts as a problem; a clean unit prints nothing.
    """
    analyze = optional_tool("systemd-analyze", "install Debian's systemd package")
    assert INSTALLED in text
    script = Path(sys.executable).parent / "wolkvox-exporter"  # the same install, in this venv
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace(INSTALLED, str(script)))
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    lines = (result.stdout + result.stderr).splitlines()
    return [*lines, *([f"exit {result.returncode}"] if result.returncode else [])]


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    assert verify(tmp_path, UNIT.read_text()) == []


@pytest.mark.parametrize(
    ("wrong", "right"),
    [("ProtectSystem=strict", "ProtectSystem=strictly"), ("DynamicUser=", "DynamicUsers=")],
)
def test_verify_catches_a_broken_unit(tmp_path: Path, wrong: str, right: str) -> None:
    text = UNIT.read_text()
    assert wrong in text
    assert verify(tmp_path, text.replace(wrong, right)) != []


def test_the_unit_is_hardened_and_keeps_state_where_systemd_says(tmp_path: Path) -> None:
    found = directives(UNIT.read_text())
    assert found["Service.ExecStart"] == [f"{INSTALLED} $ARGS"]
    assert found["Service.EnvironmentFile"] == ["/etc/default/wolkvox-exporter"]
    assert found["Service.ExecReload"] == ["/bin/kill -HUP $MAINPID"]  # SIGHUP reloads
    # systemd sets $STATE_DIRECTORY=/var/lib/wolkvox-exporter, which the exporter reads.
    assert found["Service.StateDirectory"] == ["wolkvox-exporter"]
    for key, value in [("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"),
                       ("DynamicUser", "yes"), ("CapabilityBoundingSet", "")]:  # fmt: skip
        assert found[f"Service.{key}"] == [value], key
    analyze = optional_tool("systemd-analyze", "install Debian's systemd package")
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text())
    score = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    exposure = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", score.stdout)
    assert exposure, score.stdout + score.stderr
    assert float(exposure.group(1)) <= 2.0, score.stdout  # systemd's "OK" band is below 4.0


def environment_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines of a systemd EnvironmentFile (quotes removed), comments skipped."""
    pairs = (line.split("=", 1) for line in text.splitlines() if re.match(r"[A-Z_]+=", line))
    return {key: value.strip('"') for key, value in pairs}


def test_the_environment_file_configures_a_valid_exporter() -> None:
    env = environment_file(DEFAULTS.read_text())
    assert {"WOLKVOX_SERVER", "WOLKVOX_TOKEN", "ARGS"} <= env.keys()
    args = env.pop("ARGS").split()  # systemd splits $ARGS on whitespace
    checked = run_exporter([*args, "--check-config"], env=env)
    assert checked.returncode == 0, checked.stderr
    assert "configuration OK: 1 operation(s)" in checked.stdout


# MemoryDenyWriteExecute=yes kills a process that maps memory writable and executable (a JIT,
# a libffi closure). Linux 6.3+ enforces the same on a process by prctl(PR_SET_MDWE), which is
# what newer systemd uses for it: run the demo under it to see the exporter never needs W+X.
UNDER_MDWE = """
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit(77)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit(78)
except OSError:
    pass
os.execv(sys.executable, [sys.executable, "-m", "exporter", *sys.argv[1:]])
"""


def test_the_exporter_runs_with_memory_deny_write_execute() -> None:
    assert directives(UNIT.read_text())["Service.MemoryDenyWriteExecute"] == ["yes"]
    result = subprocess.run(
        [sys.executable, "-c", UNDER_MDWE, "--demo", "--once"],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
    )  # fmt: skip
    if result.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    assert result.returncode != 78, "PR_SET_MDWE did not refuse a writable executable mapping"
    assert result.returncode == 0, result.stderr
    up = [s.value for s in samples_of(result.stdout) if s.name == "wolkvox_up"]
    assert up and all(v == 1 for v in up), result.stdout
