# Copyright (c) mmdet-causal contributors. All rights reserved.
from .hooks import ClassCountCheckHook, IterationSeedHook, TrainClassCountsHook
from .runner import DebiasSweepTestLoop

__all__ = [
    'ClassCountCheckHook', 'IterationSeedHook', 'TrainClassCountsHook',
    'DebiasSweepTestLoop'
]
