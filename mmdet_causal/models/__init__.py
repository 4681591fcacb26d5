# Copyright (c) mmdet-causal contributors. All rights reserved.
from .layers import MultiHeadNormedLinear
from .roi_heads import (CausalCascadeRoIHead, CausalConvFCBBoxHead,
                        CausalHybridTaskCascadeRoIHead,
                        CausalShared2FCBBoxHead, CausalShared4Conv1FCBBoxHead,
                        CausalStandardRoIHead)

__all__ = [
    'MultiHeadNormedLinear', 'CausalConvFCBBoxHead', 'CausalShared2FCBBoxHead',
    'CausalShared4Conv1FCBBoxHead', 'CausalCascadeRoIHead',
    'CausalHybridTaskCascadeRoIHead', 'CausalStandardRoIHead'
]
