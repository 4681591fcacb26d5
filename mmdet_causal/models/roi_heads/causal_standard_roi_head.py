# Copyright (c) mmdet-causal contributors. All rights reserved.
from typing import List, Optional, Tuple

from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2roi
from torch import Tensor

from .utils import call_bbox_head


@MODELS.register_module()
class CausalStandardRoIHead(StandardRoIHead):
    """:class:`StandardRoIHead` that computes the box targets before the box
    head's forward and passes the per-RoI labels into it, as the causal box
    heads need for their foreground moving average."""

    def _bbox_forward(self,
                      x: Tuple[Tensor],
                      rois: Tensor,
                      labels: Optional[Tensor] = None) -> dict:
        """As the parent's, with optional per-RoI ``labels`` (training)."""
        bbox_feats = self.bbox_roi_extractor(
            x[:self.bbox_roi_extractor.num_inputs], rois)
        if self.with_shared_head:
            bbox_feats = self.shared_head(bbox_feats)
        cls_score, bbox_pred = call_bbox_head(self.bbox_head, bbox_feats,
                                              labels)
        return dict(
            cls_score=cls_score, bbox_pred=bbox_pred, bbox_feats=bbox_feats)

    def bbox_loss(self, x: Tuple[Tensor],
                  sampling_results: List[SamplingResult]) -> dict:
        """Targets first, then forward with their labels, then the loss from
        the same targets. Returns what the parent returns."""
        rois = bbox2roi([res.priors for res in sampling_results])
        bbox_targets = self.bbox_head.get_targets(sampling_results,
                                                  self.train_cfg)
        bbox_results = self._bbox_forward(x, rois, labels=bbox_targets[0])
        loss_bbox = self.bbox_head.loss(bbox_results['cls_score'],
                                        bbox_results['bbox_pred'], rois,
                                        *bbox_targets)
        bbox_results.update(loss_bbox=loss_bbox)
        return bbox_results
