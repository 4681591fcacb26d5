# Copyright (c) mmdet-causal contributors. All rights reserved.
from mmdet_causal.models.utils.tde_probe import TDEProbe, rule_of_thumb_alpha
from .checkpoint_compat import trust_local_checkpoints
from .launcher import check_launcher_env
from .tde import add_custom_hooks, causal_bbox_heads, configure_tde

__all__ = [
    'configure_tde', 'causal_bbox_heads', 'TDEProbe',
    'trust_local_checkpoints', 'check_launcher_env', 'rule_of_thumb_alpha',
    'add_custom_hooks'
]
