# Copyright (c) mmdet-causal contributors. All rights reserved.
from .class_count_check_hook import ClassCountCheckHook
from .random_state_hook import RandomStateHook

__all__ = ['ClassCountCheckHook', 'RandomStateHook']
