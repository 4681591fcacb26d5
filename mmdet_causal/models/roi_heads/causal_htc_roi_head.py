# Copyright (c) mmdet-causal contributors. All rights reserved.
from typing import Dict, List, Optional, Tuple

from mmdet.models.layers import adaptive_avg_pool2d
from mmdet.models.roi_heads import HybridTaskCascadeRoIHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2roi
from torch import Tensor

from .utils import call_bbox_head


@MODELS.register_module()
class CausalHybridTaskCascadeRoIHead(HybridTaskCascadeRoIHead):
    """:class:`HybridTaskCascadeRoIHead` that computes each stage's box
    targets before the box head's forward and passes the per-RoI labels into
    it. Mask heads and the semantic branch are the parent's."""

    def _bbox_forward(self,
                      stage: int,
                      x: Tuple[Tensor],
                      rois: Tensor,
                      semantic_feat: Optional[Tensor] = None,
                      labels: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """As the parent's, with optional per-RoI ``labels`` (training)."""
        bbox_roi_extractor = self.bbox_roi_extractor[stage]
        bbox_feats = bbox_roi_extractor(x[:bbox_roi_extractor.num_inputs],
                                        rois)
        if self.with_semantic and 'bbox' in self.semantic_fusion:
            bbox_semantic_feat = self.semantic_roi_extractor([semantic_feat],
                                                             rois)
            if bbox_semantic_feat.shape[-2:] != bbox_feats.shape[-2:]:
                bbox_semantic_feat = adaptive_avg_pool2d(
                    bbox_semantic_feat, bbox_feats.shape[-2:])
            bbox_feats += bbox_semantic_feat
        cls_score, bbox_pred = call_bbox_head(self.bbox_head[stage],
                                              bbox_feats, labels)
        return dict(cls_score=cls_score, bbox_pred=bbox_pred)

    def bbox_loss(self,
                  stage: int,
                  x: Tuple[Tensor],
                  sampling_results: List[SamplingResult],
                  semantic_feat: Optional[Tensor] = None) -> dict:
        """Targets first, then forward with their labels, then the loss from
        the same targets. Returns what the parent returns, including the
        ``rois`` and ``bbox_targets`` that ``refine_bboxes`` reads."""
        bbox_head = self.bbox_head[stage]
        rois = bbox2roi([res.priors for res in sampling_results])
        bbox_targets = bbox_head.get_targets(sampling_results,
                                             self.train_cfg[stage])
        bbox_results = self._bbox_forward(
            stage,
            x,
            rois,
            semantic_feat=semantic_feat,
            labels=bbox_targets[0])
        loss_bbox = bbox_head.loss(bbox_results['cls_score'],
                                   bbox_results['bbox_pred'], rois,
                                   *bbox_targets)
        bbox_results.update(
            rois=rois, loss_bbox=loss_bbox, bbox_targets=bbox_targets)
        return bbox_results
