"""The layers of app/: the web framework stays in api/ and main.py.

services/ (retrieval, answers, the live services) and db/ are plain Python that the routes
call through api/deps.py, as in FastAPI's full-stack template: they import neither FastAPI
nor Starlette, so they can run from a script or a test without an app.
"""

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"
WEB_FRAMEWORKS = ("fastapi", "starlette")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("layer", ["services", "db"])
def test_the_layer_does_not_import_the_web_framework(layer):
    offenders = [
        f"app/{layer}/{path.name}:{line}: import {module}"
        for path in sorted((APP / layer).glob("*.py"))
        for line, module in imported_modules(path)
        if module.split(".")[0] in WEB_FRAMEWORKS
    ]
    assert not offenders, "the web framework belongs in api/ and main.py:\n" + "\n".join(offenders)
