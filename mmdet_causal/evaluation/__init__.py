# Copyright (c) mmdet-causal contributors. All rights reserved.
from .lvis_compat import patch_lvis_numpy

# The official LVIS evaluation must work wherever mmdet_causal is imported
# (configs load it through custom_imports), so the scoped fix applies here.
patch_lvis_numpy()

__all__ = ['patch_lvis_numpy']
