# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Data this project makes for its tests, demos and benchmarks (as
``mmdet.testing`` keeps mmdet's fixtures): the generated tiny LVIS and
synthetic LVIS ground truth and detections. Nothing here is imported by
``import mmdet_causal``."""
from .synthetic_lvis import make_lvis_gt, make_predictions
from .tiny_lvis import (GENERATOR_VERSION, PRESETS, TinyLVISSpec, class_names,
                        frequency_groups, generate_tiny_lvis)

__all__ = [
    'TinyLVISSpec', 'PRESETS', 'GENERATOR_VERSION', 'generate_tiny_lvis',
    'frequency_groups', 'class_names', 'make_lvis_gt', 'make_predictions'
]
