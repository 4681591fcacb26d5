# Copyright (c) mmdet-causal contributors. All rights reserved.
from .multi_head_normed_linear import MultiHeadNormedLinear

__all__ = ['MultiHeadNormedLinear']
