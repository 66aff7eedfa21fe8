"""suggest: reply suggestions for Chinese e-commerce customer service.

>>> from suggest import Engine
>>> engine = Engine()
>>> analysis = engine.analyze("包邮吗 几天能到")
>>> [m.id for m in analysis.intents]
['shipping']
"""

from __future__ import annotations

from ._compiled import warn_if_stale

warn_if_stale()

from .engine import Engine  # noqa: E402
from .errors import InputError, PackError, Problem  # noqa: E402
from .results import Analysis, Evidence, IntentMatch, Reply, TagMatch  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "Engine",
    "Evidence",
    "InputError",
    "IntentMatch",
    "PackError",
    "Problem",
    "Reply",
    "TagMatch",
    "__version__",
]
