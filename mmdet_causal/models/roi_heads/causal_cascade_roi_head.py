# Copyright (c) mmdet-causal contributors. All rights reserved.
from typing import List, Tuple

from mmdet.models.roi_heads import CascadeRoIHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.registry import MODELS
from torch import Tensor

from .label_passing import LabelPassingMixin, labels_from_targets


@MODELS.register_module()
class CausalCascadeRoIHead(LabelPassingMixin, CascadeRoIHead):
    """:class:`CascadeRoIHead` whose box heads get each stage's per-RoI
    labels in their training forward. Stock box heads work as under the
    parent."""

    def bbox_loss(self, stage: int, x: Tuple[Tensor],
                  sampling_results: List[SamplingResult], **kwargs) -> dict:
        """The parent's, with the stage's labels handed to its box head.
        ``kwargs`` reach the parent (HTC's ``semantic_feat``)."""
        with labels_from_targets(self.bbox_head[stage], sampling_results,
                                 self.train_cfg[stage]):
            return super().bbox_loss(stage, x, sampling_results, **kwargs)
