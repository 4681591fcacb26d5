# Copyright (c) mmdet-causal contributors. All rights reserved.
from .alpha_sweep import AlphaSweeper

__all__ = ['AlphaSweeper']
