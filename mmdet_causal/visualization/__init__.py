# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Figures: per-class AP against training frequency."""
from .per_class_ap import (per_class_ap, plot_per_class_ap, read_metrics,
                           train_class_stats)

__all__ = [
    'per_class_ap', 'plot_per_class_ap', 'read_metrics', 'train_class_stats'
]
