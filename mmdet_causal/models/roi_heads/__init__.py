# Copyright (c) mmdet-causal contributors. All rights reserved.
from .bbox_heads import (CausalConvFCBBoxHead, CausalShared2FCBBoxHead,
                         CausalShared4Conv1FCBBoxHead)
from .causal_roi_heads import (CausalCascadeRoIHead,
                               CausalHybridTaskCascadeRoIHead,
                               CausalStandardRoIHead)

__all__ = [
    'CausalConvFCBBoxHead', 'CausalShared2FCBBoxHead',
    'CausalShared4Conv1FCBBoxHead', 'CausalCascadeRoIHead',
    'CausalHybridTaskCascadeRoIHead', 'CausalStandardRoIHead'
]
