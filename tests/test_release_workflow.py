"""The release workflow, which cannot run here: schema-valid, and it does what README promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"


def schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with its vendored copy of the GitHub workflow schema (no network)."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "check-jsonschema"),
         "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def steps(job: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = workflow()["jobs"][job]["steps"]
    return found


def step(job: str, uses: str) -> dict[str, Any]:
    (found,) = [s for s in steps(job) if s.get("uses", "").startswith(uses + "@")]
    return found


def test_the_release_workflow_matches_the_github_workflow_schema() -> None:
    result = schema_check(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "release.yml"
    text = WORKFLOW.read_text()
    assert "    runs-on: ubuntu-24.04\n" in text
    broken.write_text(text.replace("    runs-on: ubuntu-24.04\n", "    runs_on: ubuntu-24.04\n", 1))
    result = schema_check(broken)
    assert result.returncode == 1, result.stdout
    assert "runs_on" in result.stdout + result.stderr


def test_a_version_tag_builds_from_full_history_and_checks_the_version() -> None:
    triggers = workflow()[True]  # YAML 1.1 reads the key `on` as true
    assert triggers == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+*"]}}
    assert step("dist", "actions/checkout")["with"]["fetch-depth"] == 0  # tags for setuptools-scm
    commands = "\n".join(s.get("run", "") for s in steps("dist"))
    assert "python -m build" in commands
    assert '"v$version" != "$GITHUB_REF_NAME"' in commands


def test_pypi_is_published_with_trusted_publishing_only() -> None:
    job = workflow()["jobs"]["pypi"]
    assert job["permissions"] == {"id-token": "write"}
    publish = step("pypi", "pypa/gh-action-pypi-publish")
    assert "with" not in publish  # no password or API token: PyPI trusts the OIDC identity
    assert "secrets." not in yaml.safe_dump(job)


def test_the_image_is_multi_arch_with_an_sbom_and_the_tag_as_version() -> None:
    push = step("image", "docker/build-push-action")["with"]
    assert set(push["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert push["sbom"] is True and push["provenance"] == "mode=max"
    version = "SETUPTOOLS_SCM_PRETEND_VERSION=${{ needs.dist.outputs.version }}"
    assert push["build-args"].strip() == version
    assert "ARG SETUPTOOLS_SCM_PRETEND_VERSION" in (ROOT / "Dockerfile").read_text()


def test_release_notes_are_the_changelog_section_of_the_version(tmp_path: Path) -> None:
    run = next(s["run"] for s in steps("github-release") if "notes.md" in s.get("run", ""))
    extract = run.split("gh release create")[0]
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert released, "CHANGELOG.md has no released version"
    (tmp_path / "CHANGELOG.md").write_text((ROOT / "CHANGELOG.md").read_text())
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", extract + "\ncat notes.md"],
        capture_output=True, text=True, cwd=tmp_path, timeout=30,
        env={"VERSION": released[0], "PATH": "/usr/bin:/bin"}, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.lstrip().startswith("### ")
    assert f"## [{released[0]}]" not in result.stdout and "## [" not in result.stdout
