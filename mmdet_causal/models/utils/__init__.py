# Copyright (c) mmdet-causal contributors. All rights reserved.
from .embed_sync import apply_embed_updates
from .norcal import norcal_calibration, norcal_log_counts, norcal_scores
from .strength import check_alpha, check_gamma
from .tde_probe import TDEProbe, rule_of_thumb_alpha

__all__ = [
    'apply_embed_updates', 'check_alpha', 'check_gamma', 'norcal_calibration',
    'norcal_log_counts', 'norcal_scores', 'TDEProbe', 'rule_of_thumb_alpha'
]
