"""Public names that are also package names: ``transferkit.pretrain`` (and later ``auto`` and
``explain``) is both a package of methods and the workflow function users call.

Importing a sub-package rebinds the parent package's attribute of that name to the module, so
a plain function of that name would be replaced the moment anything imports the package. The
package's module is therefore made callable and forwards the call to the workflow in
:mod:`transferkit.runs`, named here as a string and imported on the first call (the methods
package does not depend on the workflow; the call does).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


def callable_package(package: str, target: str) -> None:
    """Make the module ``package`` callable: ``package(...)`` calls ``target`` ('mod:attr')."""
    module_name, attr = target.split(":")

    class _CallablePackage(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return getattr(importlib.import_module(module_name), attr)(*args, **kwargs)

    sys.modules[package].__class__ = _CallablePackage
