# Copyright (c) mmdet-causal contributors. All rights reserved.
"""mmdet's RoI heads under the names the configs of mmdet-causal 0.1 use.

Documented aliases: the causal box heads need no special RoI head any more
(they take their labels in mmdet's own ``loss_and_target``), so these add
nothing; they stay registered so that configs naming them keep working. New
configs name the stock types.
"""
from mmdet.models.roi_heads import (CascadeRoIHead, HybridTaskCascadeRoIHead,
                                    StandardRoIHead)
from mmdet.registry import MODELS


@MODELS.register_module()
class CausalStandardRoIHead(StandardRoIHead):
    """mmdet's :class:`StandardRoIHead` (an alias)."""


@MODELS.register_module()
class CausalCascadeRoIHead(CascadeRoIHead):
    """mmdet's :class:`CascadeRoIHead` (an alias)."""


@MODELS.register_module()
class CausalHybridTaskCascadeRoIHead(HybridTaskCascadeRoIHead):
    """mmdet's :class:`HybridTaskCascadeRoIHead` (an alias)."""
