"""Every error our packages raise on purpose derives from one root, ``AssistantError``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from schemas.errors import AssistantError

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
