"""Which modules run compiled, and a warning when a compiled one is older than its source.

``pip install .`` compiles the hot path with mypyc (see pyproject.toml) and, in a
checkout, leaves the compiled modules beside the sources. Python then imports the
compiled module even after its ``.py`` was edited, silently running the old code; in
a checkout this warns instead. An installed wheel has no ``pyproject.toml`` beside
the package and is not checked (its files all carry the time of installation).
"""

from __future__ import annotations

import os
import warnings
from importlib.machinery import EXTENSION_SUFFIXES

_HERE = os.path.dirname(os.path.abspath(__file__))


def compiled_modules() -> list[str]:
    """The names of this package's modules that are compiled extensions here."""
    try:
        names = os.listdir(_HERE)
    except OSError:
        return []
    found = []
    for name in names:
        for suffix in EXTENSION_SUFFIXES:
            if name.endswith(suffix) and name != suffix:
                found.append(name[: -len(suffix)])
                break
    return sorted(found)


def warn_if_stale() -> None:
    if not os.path.exists(os.path.join(os.path.dirname(_HERE), "pyproject.toml")):
        return  # installed: nothing to compare
    for module in compiled_modules():
        source = os.path.join(_HERE, module + ".py")
        try:
            newer = os.path.getmtime(source) > min(
                os.path.getmtime(os.path.join(_HERE, module + suffix))
                for suffix in EXTENSION_SUFFIXES if os.path.exists(os.path.join(_HERE, module + suffix)))
        except (OSError, ValueError):
            continue
        if newer:
            warnings.warn(f"suggest/{module}.py changed after it was compiled: the compiled module runs the old "
                          f"code. Rebuild (pip install .) or delete suggest/{module}.*.so to run the source.",
                          RuntimeWarning, stacklevel=3)
