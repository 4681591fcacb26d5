# Copyright (c) mmdet-causal contributors. All rights reserved.
"""What the label-passing RoI heads share."""
from typing import Optional, Tuple

from torch import Tensor, nn


def call_bbox_head(bbox_head: nn.Module,
                   bbox_feats: Tensor,
                   labels: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """Run a box head, passing per-RoI labels to heads that take them.

    Heads that declare ``accepts_labels = True`` (the causal box heads) get
    ``labels``; stock mmdet heads are called exactly as mmdet calls them, so
    the Causal*RoIHeads also work with non-causal box heads.
    """
    if labels is not None and getattr(bbox_head, 'accepts_labels', False):
        return bbox_head(bbox_feats, labels=labels)
    return bbox_head(bbox_feats)
