"""Every error our packages raise on purpose derives from one root, ``AssistantError``, and
every error code the socket can answer with is documented."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

from schemas.errors import AssistantError

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["schemas", "config", "quota", "streams", "documents", "sealing", "tenants", "runtime",
            "ws_edge", "workers", "socket_client",
            "analytics", "tasks", "infra", "ide"]


def our_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if (inspect.isclass(value) and issubclass(value, BaseException)
                        and value.__module__ == info.name):
                    found[f"{info.name}.{name}"] = value
    return found


def test_every_error_has_the_one_root() -> None:
    found = our_exceptions()
    assert len(found) >= 15, sorted(found)
    assert sorted(name for name, cls in found.items() if not issubclass(cls, AssistantError)) == []


def test_errors_keep_the_builtin_they_were() -> None:
    """``except ValueError`` around settings and directory loading still catches them."""
    from config.settings import SettingsError
    from tenants.directory import DirectoryError
    from workers.inference import InferenceError

    assert issubclass(SettingsError, ValueError) and issubclass(DirectoryError, ValueError)
    assert issubclass(InferenceError, RuntimeError)


def raised_codes() -> dict[str, set[str]]:
    """The error codes the socket-facing packages raise or send, from their source: the first
    argument (or ``code=``) of an error constructor or an ``ErrorFrame``."""
    found: dict[str, set[str]] = {}
    for package in ("schemas", "ws_edge", "documents", "workers", "quota", "tenants"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = (func.id if isinstance(func, ast.Name) else
                        func.attr if isinstance(func, ast.Attribute) else
                        "Error" if isinstance(func, ast.IfExp) else "")
                if not (name.endswith("Error") or name == "ErrorFrame" or name.startswith("_Over")):
                    continue
                arguments = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "code")]
                for argument in arguments:
                    if isinstance(argument, ast.Constant) and isinstance(argument.value, str) \
                            and re.fullmatch(r"[a-z]+(_[a-z]+)+", argument.value):
                        found.setdefault(argument.value, set()).add(package)
    return found


def test_every_error_code_is_documented() -> None:
    codes = raised_codes()
    assert {"bad_json", "too_many_documents", "rate_limited", "quota_exceeded"} <= set(codes)
    table = (ROOT / "docs" / "PROTOCOL.md").read_text()
    missing = sorted(code for code in codes if f"`{code}`" not in table)
    assert missing == [], f"error codes not in docs/PROTOCOL.md: {missing}"
