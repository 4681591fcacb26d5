# Copyright (c) mmdet-causal contributors. All rights reserved.
from mmdet.models.roi_heads import HybridTaskCascadeRoIHead
from mmdet.registry import MODELS

from .causal_cascade_roi_head import CausalCascadeRoIHead


@MODELS.register_module()
class CausalHybridTaskCascadeRoIHead(CausalCascadeRoIHead,
                                     HybridTaskCascadeRoIHead):
    """:class:`HybridTaskCascadeRoIHead` whose box heads get each stage's
    per-RoI labels in their training forward. Everything else (mask
    information flow, the semantic branch) is the parent's, unchanged."""
