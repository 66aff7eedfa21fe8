"""Build hook: the per-message hot path compiled to C with mypyc (through hatch-mypyc),
or, where that cannot be done, the same modules as plain Python.

A wheel compiles the modules listed under ``[tool.hatch.build.targets.wheel.hooks.custom]``
in pyproject.toml; an editable install does not (an edited source must run as written);
``HATCH_BUILD_NO_HOOKS=true`` skips compiling altogether. A machine without a C compiler
still gets a working install: the failure is reported and the wheel stays pure Python.
"""

from __future__ import annotations

import sys
from typing import Any

from hatch_mypyc.plugin import MypycBuildHook


class CompiledOrPure(MypycBuildHook):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        try:
            super().initialize(version, build_data)
        except Exception as exc:  # no compiler, no headers: still install, as plain Python
            self.clean([version])
            first = str(exc).strip().splitlines()[:1]
            sys.stderr.write("suggest: could not compile the hot path with mypyc; installing it as plain "
                             f"Python (slower, same results): {first[0] if first else type(exc).__name__}\n")


def get_build_hook() -> type[CompiledOrPure]:
    return CompiledOrPure
