# Copyright (c) mmdet-causal contributors. All rights reserved.
"""De-confounded training and TDE inference for MMDetection 3.x.

Importing this package registers every public class in mmdet's registries,
so a config needs only ``custom_imports=dict(imports=['mmdet_causal'],
allow_failed_imports=False)``. It checks the versions of mmcv, mmdet and
mmengine (:mod:`mmdet_causal.stack`) and lets configs name our bases as
``'mmdet_causal::...'``; nothing else of other packages is changed.
"""
# isort: off
# the stack first: it checks the mmcv/mmengine/mmdet versions
from .stack import SUPPORTED_VERSIONS
# isort: on
from .engine import (ClassCountCheckHook, DebiasSweepTestLoop,
                     IterationSeedHook, TrainClassCountsHook)
from .evaluation import patch_lvis_numpy
from .models import (CausalCascadeRoIHead, CausalConvFCBBoxHead,
                     CausalHybridTaskCascadeRoIHead, CausalShared2FCBBoxHead,
                     CausalShared4Conv1FCBBoxHead, CausalStandardRoIHead,
                     MultiHeadNormedLinear)
from .version import __version__, version_info

__all__ = [
    '__version__', 'version_info', 'SUPPORTED_VERSIONS',
    'CausalConvFCBBoxHead', 'CausalShared2FCBBoxHead',
    'CausalShared4Conv1FCBBoxHead', 'CausalCascadeRoIHead',
    'CausalHybridTaskCascadeRoIHead', 'CausalStandardRoIHead',
    'MultiHeadNormedLinear', 'ClassCountCheckHook', 'IterationSeedHook',
    'TrainClassCountsHook', 'DebiasSweepTestLoop', 'patch_lvis_numpy'
]
