# Copyright (c) mmdet-causal contributors. All rights reserved.
from .norcal import (check_gamma, norcal_calibration, norcal_log_counts,
                     norcal_scores)

__all__ = [
    'check_gamma', 'norcal_calibration', 'norcal_log_counts', 'norcal_scores'
]
