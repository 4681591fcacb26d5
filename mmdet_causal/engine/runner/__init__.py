# Copyright (c) mmdet-causal contributors. All rights reserved.
from .debias_sweep_loop import DebiasSweepTestLoop

__all__ = ['DebiasSweepTestLoop']
