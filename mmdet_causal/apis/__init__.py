# Copyright (c) mmdet-causal contributors. All rights reserved.
from .debias_sweep import AlphaSweeper, DebiasSweeper, Strength, strength_grid

__all__ = ['AlphaSweeper', 'DebiasSweeper', 'Strength', 'strength_grid']
