# Copyright (c) mmdet-causal contributors. All rights reserved.
from typing import List, Tuple

from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.registry import MODELS
from torch import Tensor

from .label_passing import LabelPassingMixin, labels_from_targets


@MODELS.register_module()
class CausalStandardRoIHead(LabelPassingMixin, StandardRoIHead):
    """:class:`StandardRoIHead` whose box head gets the per-RoI labels in
    its training forward, as the causal box heads need for their foreground
    moving average. Stock box heads work as under the parent."""

    def bbox_loss(self, x: Tuple[Tensor],
                  sampling_results: List[SamplingResult]) -> dict:
        """The parent's, with the labels handed to the box head."""
        with labels_from_targets(self.bbox_head, sampling_results,
                                 self.train_cfg):
            return super().bbox_loss(x, sampling_results)
