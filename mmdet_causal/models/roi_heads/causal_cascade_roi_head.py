# Copyright (c) mmdet-causal contributors. All rights reserved.
from typing import List, Optional, Tuple

from mmdet.models.roi_heads import CascadeRoIHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2roi
from torch import Tensor

from .utils import call_bbox_head


@MODELS.register_module()
class CausalCascadeRoIHead(CascadeRoIHead):
    """:class:`CascadeRoIHead` that computes each stage's box targets before
    the box head's forward and passes the per-RoI labels into it."""

    def _bbox_forward(self,
                      stage: int,
                      x: Tuple[Tensor],
                      rois: Tensor,
                      labels: Optional[Tensor] = None) -> dict:
        """As the parent's, with optional per-RoI ``labels`` (training)."""
        bbox_roi_extractor = self.bbox_roi_extractor[stage]
        bbox_feats = bbox_roi_extractor(x[:bbox_roi_extractor.num_inputs],
                                        rois)
        cls_score, bbox_pred = call_bbox_head(self.bbox_head[stage],
                                              bbox_feats, labels)
        return dict(
            cls_score=cls_score, bbox_pred=bbox_pred, bbox_feats=bbox_feats)

    def bbox_loss(self, stage: int, x: Tuple[Tensor],
                  sampling_results: List[SamplingResult]) -> dict:
        """Targets first, then forward with their labels, then the loss from
        the same targets. Returns what the parent returns, including the
        ``rois`` and ``bbox_targets`` that ``refine_bboxes`` reads."""
        bbox_head = self.bbox_head[stage]
        rois = bbox2roi([res.priors for res in sampling_results])
        bbox_targets = bbox_head.get_targets(sampling_results,
                                             self.train_cfg[stage])
        bbox_results = self._bbox_forward(
            stage, x, rois, labels=bbox_targets[0])
        loss_bbox = bbox_head.loss(bbox_results['cls_score'],
                                   bbox_results['bbox_pred'], rois,
                                   *bbox_targets)
        bbox_results.update(
            rois=rois, loss_bbox=loss_bbox, bbox_targets=bbox_targets)
        return bbox_results
