# Copyright (c) mmdet-causal contributors. All rights reserved.
from mmdet.models.roi_heads import HybridTaskCascadeRoIHead
from mmdet.registry import MODELS


@MODELS.register_module()
class CausalHybridTaskCascadeRoIHead(HybridTaskCascadeRoIHead):
    """mmdet's :class:`HybridTaskCascadeRoIHead`, under the name the
    configs of mmdet-causal 0.1 use. A documented alias, adding nothing (see
    :class:`CausalStandardRoIHead`)."""
