# Copyright (c) mmdet-causal contributors. All rights reserved.
from .multi_head_normed_linear import (MultiHeadNormedLinear, at_least_float32,
                                       float32_math)

__all__ = ['MultiHeadNormedLinear', 'at_least_float32', 'float32_math']
