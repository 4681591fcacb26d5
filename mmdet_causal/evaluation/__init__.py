# Copyright (c) mmdet-causal contributors. All rights reserved.
from .lvis_compat import patch_lvis_numpy

# The official LVIS evaluation must work wherever mmdet_causal is imported
# (configs load it through custom_imports), so the scoped fix applies here.
patch_lvis_numpy()

from .fast_lvis_metric import FastLVISMetric, check_lvis_gt  # noqa: E402

__all__ = ['patch_lvis_numpy', 'FastLVISMetric', 'check_lvis_gt']
