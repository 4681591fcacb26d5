# Copyright (c) mmdet-causal contributors. All rights reserved.
from .tiny_lvis import (PRESETS, TinyLVISSpec, frequency_groups,
                        generate_tiny_lvis)

__all__ = ['TinyLVISSpec', 'PRESETS', 'generate_tiny_lvis', 'frequency_groups']
