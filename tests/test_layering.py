"""Imports only point down: kernels know nothing of the API, the reference knows no kernels.

Each part of the package may import the third-party packages and the parts of the package
listed for it below, and the standard library; the test parses every module's imports.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import inferentia_kernels

PACKAGE = Path(inferentia_kernels.__file__).parent
NAME = "inferentia_kernels"

# part -> (third-party packages, package parts it may import)
ALLOWED: dict[str, tuple[set[str], set[str]]] = {
    "errors": (set(), set()),
    "kernels": ({"numpy", "numba", "llvmlite"}, {"kernels"}),
    "reference": ({"numpy", "ml_dtypes"}, {"reference"}),
    "numerics": ({"numpy", "ml_dtypes"}, {"numerics", "kernels", "errors"}),
    "ops": ({"numpy"}, {"ops", "numerics", "kernels", "errors", "device"}),
    "compare": ({"numpy"}, {"errors"}),
    "workloads": (set(), {"workloads", "errors"}),
    "device": (set(), {"device", "workloads", "errors"}),
    "scaling": (set(), {"device", "workloads", "errors"}),
    "cli": ({"numpy", "numba", "llvmlite", "ml_dtypes", "matplotlib"}, {"*"}),
    "__init__": (set(), {"ops", "compare", "numerics", "errors", "workloads", "device", "scaling"}),
    "__main__": (set(), {"cli"}),
}


def _part(path: Path, root: Path = PACKAGE) -> str:
    relative = path.relative_to(root)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imports(path: Path, root: Path = PACKAGE) -> set[str]:
    """Absolute dotted names imported by the module at ``path`` (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package_parts = [NAME, *path.relative_to(root).parts[:-1]]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:
                    found.update(f"{target}.{alias.name}" for alias in node.names)
                else:
                    found.add(target)
            else:
                found.add(node.module)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_part_has_rules():
    assert MODULES, "no modules found"
    assert {_part(path) for path in MODULES} <= set(ALLOWED)


def _violations(path: Path, root: Path = PACKAGE) -> list[str]:
    third_party, parts = ALLOWED[_part(path, root)]
    found = []
    for name in sorted(_imports(path, root)):
        top = name.split(".")[0]
        if top == NAME:
            inner = name.split(".")[1] if "." in name else "__init__"
            if "*" not in parts and inner not in parts:
                found.append(name)
        elif top not in sys.stdlib_module_names and top != "__future__" and top not in third_party:
            found.append(name)
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    assert _violations(path) == []


def test_the_checker_flags_planted_violations(tmp_path):
    module = tmp_path / "reference" / "bad.py"
    module.parent.mkdir()
    module.write_text("from ..kernels.formats import x\nfrom . import ok\nimport scipy\nimport os\n")
    assert _imports(module, tmp_path) == {f"{NAME}.kernels.formats", f"{NAME}.reference.ok", "scipy", "os"}
    assert _violations(module, tmp_path) == [f"{NAME}.kernels.formats", "scipy"]
