# Copyright (c) mmdet-causal contributors. All rights reserved.
from .fast_lvis_metric import FastLVISMetric, check_lvis_gt
from .lvis_compat import patch_lvis_numpy

__all__ = ['patch_lvis_numpy', 'FastLVISMetric', 'check_lvis_gt']
