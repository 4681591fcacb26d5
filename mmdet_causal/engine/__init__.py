# Copyright (c) mmdet-causal contributors. All rights reserved.
from .hooks import ClassCountCheckHook, IterationSeedHook

__all__ = ['ClassCountCheckHook', 'IterationSeedHook']
