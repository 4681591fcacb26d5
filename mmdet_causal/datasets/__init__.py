# Copyright (c) mmdet-causal contributors. All rights reserved.
from .lvis_heldout import carve_heldout_split, split_statistics

__all__ = ['carve_heldout_split', 'split_statistics']
