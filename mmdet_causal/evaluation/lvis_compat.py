# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Compatibility of the official LVIS API (``lvis`` 0.5.3) with numpy >= 1.24.

``lvis.eval.LVISEval.accumulate`` casts with ``np.float``, an alias numpy
removed in 1.24, so every LVIS evaluation (mmdet's ``LVISMetric`` included)
raises ``AttributeError`` after inference has finished. The fix is scoped:
only the ``np`` name inside ``lvis.eval`` is replaced, by a view of numpy
that also answers the removed aliases with the builtins they always meant
(``np.float is float`` in every numpy that had it). numpy itself and every
other module are untouched, and the computation is the one lvis performs on
old numpy.
"""
import types

import numpy as np

# numeric aliases numpy removed in 1.24, and what they always were (lvis
# 0.5.3 uses np.float; np.bool/object/str are left alone: numpy reserves
# those names for its own scalar types)
_REMOVED_ALIASES = {'float': float, 'int': int, 'complex': complex}


class _NumpyWithAliases(types.ModuleType):
    """numpy, plus the removed builtin aliases."""

    def __init__(self) -> None:
        super().__init__('numpy')
        self.__dict__.update({
            k: v
            for k, v in _REMOVED_ALIASES.items() if not hasattr(np, k)
        })

    def __getattr__(self, name: str):
        return getattr(np, name)


def patch_lvis_numpy() -> bool:
    """Make ``lvis.eval`` work on numpy >= 1.24 (idempotent).

    Returns:
        bool: True if ``lvis.eval`` now sees the compatible numpy view,
        False if ``lvis`` is not installed or needs no fix.
    """
    try:
        import lvis.eval as lvis_eval
    except ImportError:
        return False
    if isinstance(lvis_eval.np, _NumpyWithAliases):
        return True
    if all(hasattr(np, k) for k in _REMOVED_ALIASES):
        return False  # an old numpy: nothing to fix
    lvis_eval.np = _NumpyWithAliases()
    return True
