# Copyright (c) mmdet-causal contributors. All rights reserved.
from .debias_sweep import DebiasSweeper, Strength, strength_grid

__all__ = ['DebiasSweeper', 'Strength', 'strength_grid']
