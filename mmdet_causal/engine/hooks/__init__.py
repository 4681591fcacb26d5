# Copyright (c) mmdet-causal contributors. All rights reserved.
from .class_count_check_hook import ClassCountCheckHook
from .iteration_seed_hook import IterationSeedHook
from .train_class_counts_hook import TrainClassCountsHook

__all__ = ['ClassCountCheckHook', 'IterationSeedHook', 'TrainClassCountsHook']
