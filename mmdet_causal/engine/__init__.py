# Copyright (c) mmdet-causal contributors. All rights reserved.
from .hooks import ClassCountCheckHook, RandomStateHook

__all__ = ['ClassCountCheckHook', 'RandomStateHook']
