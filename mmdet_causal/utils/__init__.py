# Copyright (c) mmdet-causal contributors. All rights reserved.
from .checkpoint_compat import trust_local_checkpoints
from .tde import (add_custom_hooks, causal_bbox_heads, collect_cos_stats,
                  configure_tde, rule_of_thumb_alpha)

__all__ = [
    'configure_tde', 'causal_bbox_heads', 'collect_cos_stats',
    'trust_local_checkpoints', 'rule_of_thumb_alpha', 'add_custom_hooks'
]
