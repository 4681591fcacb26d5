# Copyright (c) mmdet-causal contributors. All rights reserved.
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.registry import MODELS


@MODELS.register_module()
class CausalStandardRoIHead(StandardRoIHead):
    """mmdet's :class:`StandardRoIHead`, under the name the configs of
    mmdet-causal 0.1 use. A documented alias: the causal box heads need no
    special RoI head any more (they take their labels in mmdet's own
    ``loss_and_target``), so it adds nothing; it stays registered so that
    configs naming it keep working. New configs name the stock type."""
