"""Versions from git tags (setuptools-scm), and the fallbacks where no git metadata exists.

Each build runs the real build backend (``pip wheel --no-build-isolation``) on a copy of the
files the Dockerfile copies, in a scratch directory: no tag is ever made in this repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

from exporter import __version__
from tests.exporter_process import run_exporter
from tests.helpers import value

ROOT = Path(__file__).parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid",
       "-c", "init.defaultBranch=main", "-c", "tag.gpgSign=false",
       "-c", "commit.gpgSign=false"]  # fmt: skip


def docker_context(into: Path) -> Path:
    """The files the Dockerfile COPYs, copied to ``into``: a build context without .git."""
    into.mkdir()
    for sources in re.findall(r"^COPY (.+) \S+$", DOCKERFILE, re.M):
        for name in sources.split():
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, into / name)
    return into


def built_version(source: Path, out: Path, **env: str) -> str:
    """Build a wheel of ``source`` with the real backend; the version in its file name."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SETUPTOOLS_SCM")}
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--wheel-dir", str(out), str(source)],
        capture_output=True, text=True, env={**environ, **env}, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (wheel,) = out.glob("wolkvox_exporter-*.whl")
    wheel.unlink()
    return wheel.name.split("-")[1]


def git(repo: Path, *args: str) -> None:
    subprocess.run([*GIT, "-C", str(repo), *args], check=True, capture_output=True, timeout=60)


def test_version_flag_and_build_info_show_the_installed_version() -> None:
    installed = version("wolkvox-exporter")
    assert __version__ == installed  # read from the package metadata, not a constant
    shown = run_exporter(["--version"])
    assert (shown.returncode, shown.stdout.strip()) == (0, f"wolkvox-exporter {installed}")
    once = run_exporter(["--demo", "--once"])
    assert value(once.stdout, "wolkvox_exporter_build_info", version=installed) == 1


def test_a_tag_is_the_version_and_commits_after_it_are_dev_versions(tmp_path: Path) -> None:
    repo = docker_context(tmp_path / "repo")
    shutil.copy2(ROOT / ".git_archival.txt", repo)
    shutil.copy2(ROOT / ".gitattributes", repo)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "release")
    git(repo, "tag", "-a", "v1.4.0", "-m", "1.4.0")
    assert built_version(repo, tmp_path) == "1.4.0"

    git(repo, "commit", "-q", "--allow-empty", "-m", "after the release")
    assert re.fullmatch(r"1\.4\.1\.dev1\+g[0-9a-f]+", built_version(repo, tmp_path))

    # A `git archive` tarball of the tag (what a forge's "source code" download is) has no .git;
    # .git_archival.txt, filled in by export-subst, carries the version.
    archive = tmp_path / "v1.4.0.tar"
    git(repo, "archive", "--format=tar", "--prefix=wolkvox-exporter-1.4.0/", "-o", str(archive),
        "v1.4.0")  # fmt: skip
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    unpacked = tmp_path / "unpacked" / "wolkvox-exporter-1.4.0"
    assert not (unpacked / ".git").exists()
    assert built_version(unpacked, tmp_path) == "1.4.0"


def test_without_git_metadata_the_build_falls_back(tmp_path: Path) -> None:
    context = docker_context(tmp_path / "context")  # what `docker build` sees: .git excluded
    assert built_version(context, tmp_path) == "0.0.0+unknown"
    pretend = {"SETUPTOOLS_SCM_PRETEND_VERSION": "2.5.0"}  # the Dockerfile's build argument
    assert built_version(context, tmp_path, **pretend) == "2.5.0"


def test_the_image_takes_its_version_as_a_build_argument_on_a_pinned_base() -> None:
    assert re.search(r"^\.git$", (ROOT / ".dockerignore").read_text(), re.M)
    arg = DOCKERFILE.index("\nARG SETUPTOOLS_SCM_PRETEND_VERSION\n")
    assert arg < DOCKERFILE.index("\nRUN pip install --no-cache-dir .")
    base = re.search(r"^FROM (\S+)$", DOCKERFILE, re.M)
    assert base, "the Dockerfile has no FROM"
    pinned = r"python:3\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?|python@sha256:[0-9a-f]{64}"
    assert re.fullmatch(pinned, base.group(1)), f"{base.group(1)}: pin an exact version or digest"
