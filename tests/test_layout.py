"""The package's shape: parts import one way, no cycles, small modules, no prefix families."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from tests.layout import ALLOWED, cycles, imports, modules, part, wrong_arrows

PACKAGE = Path(__file__).resolve().parent.parent / "exporter"
MAX_LINES = 300


def doctored(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the package in ``tmp_path`` with ``line`` appended to ``module``."""
    copy = tmp_path / "exporter"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    return copy


def test_every_part_of_the_package_has_its_arrows() -> None:
    parts = {part(name) for name in modules(PACKAGE)}
    assert parts == set(ALLOWED), "add the new part to tests/layout.py ALLOWED, with its arrows"


def test_imports_run_the_intended_way() -> None:
    assert wrong_arrows(imports(PACKAGE)) == []


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(imports(PACKAGE)) == []


@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [
        # wolkvox reaching into the HTTP side
        ("wolkvox/model.py", "from exporter.web import Site", "(wolkvox -> web)"),
        # the simulator importing anything of the package
        ("simulator/data.py", "from exporter.errors import describe", "(simulator -> errors)"),
        # the collector importing the client, through the part's public names
        ("collector.py", "from exporter.wolkvox import CampaignsClient", "(forbidden)"),
        ("collector.py", "import exporter.wolkvox.deadline", "(forbidden)"),
        # web knowing Wolkvox
        ("web/app.py", "from exporter.wolkvox import Campaign", "(web -> wolkvox)"),
    ],
)
def test_a_wrong_arrow_is_reported(tmp_path: Path, module: str, line: str, expected: str) -> None:
    wrong = wrong_arrows(imports(doctored(tmp_path, module, line)))
    assert len(wrong) == 1
    assert wrong[0].endswith(expected)


def test_a_cycle_is_reported(tmp_path: Path) -> None:
    line = "from exporter.simulator.core import Simulator"
    found = cycles(imports(doctored(tmp_path, "simulator/server.py", line)))
    assert any({"exporter.simulator.core", "exporter.simulator.server"} <= set(g) for g in found)


def test_a_module_that_imports_its_own_package_init_is_a_cycle(tmp_path: Path) -> None:
    copy = doctored(tmp_path, "config/parser.py", "from exporter.config import Config")
    assert any("exporter.config" in group for group in cycles(imports(copy)))


def test_every_module_can_be_read_in_one_sitting() -> None:
    long = {
        name: count
        for name, path in modules(PACKAGE).items()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these modules (over {MAX_LINES} lines)"


def test_no_name_prefix_is_shared_by_top_level_modules() -> None:
    top = [p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("__")]
    prefixes = Counter(name.split("_")[0] for name in top)
    assert [prefix for prefix, count in prefixes.items() if count > 1] == []


def test_every_subpackage_says_what_it_owns() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        text = init.read_text(encoding="utf-8")
        assert text.startswith('"""'), f"{init}: start with a docstring"
        assert "__all__" in text, f"{init}: export the part's public names"
