# Copyright (c) mmdet-causal contributors. All rights reserved.
from .bbox_heads import (CausalConvFCBBoxHead, CausalShared2FCBBoxHead,
                         CausalShared4Conv1FCBBoxHead)
from .causal_cascade_roi_head import CausalCascadeRoIHead
from .causal_htc_roi_head import CausalHybridTaskCascadeRoIHead
from .causal_standard_roi_head import CausalStandardRoIHead

__all__ = [
    'CausalConvFCBBoxHead', 'CausalShared2FCBBoxHead',
    'CausalShared4Conv1FCBBoxHead', 'CausalCascadeRoIHead',
    'CausalHybridTaskCascadeRoIHead', 'CausalStandardRoIHead'
]
