# Copyright (c) mmdet-causal contributors. All rights reserved.
from .causal_convfc_bbox_head import (CausalConvFCBBoxHead,
                                      CausalShared2FCBBoxHead,
                                      CausalShared4Conv1FCBBoxHead)

__all__ = [
    'CausalConvFCBBoxHead', 'CausalShared2FCBBoxHead',
    'CausalShared4Conv1FCBBoxHead'
]
