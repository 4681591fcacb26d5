# Copyright (c) mmdet-causal contributors. All rights reserved.
"""What the label-passing RoI heads add to mmdet's: nothing but the labels.

mmdet's ``bbox_loss`` runs the box head's forward before it computes the
targets, but a causal box head needs each RoI's label in that forward (its
moving average counts foreground RoIs only). The Causal*RoIHeads compute the
labels first and hand them to the box head for the duration of mmdet's own
``bbox_loss``, which then runs unchanged (written against mmdet 3.3: the box
head must run once inside ``bbox_loss``, else
:meth:`CausalConvFCBBoxHead.labels_for_next_forward` fails loudly).
"""
import contextlib
from typing import List

from mmdet.models.task_modules.samplers import SamplingResult
from mmengine.config import ConfigDict
from torch import nn


def _label_taking_heads(roi_head) -> List[nn.Module]:
    heads = roi_head.bbox_head
    heads = list(heads) if isinstance(heads, nn.ModuleList) else [heads]
    return [h for h in heads if getattr(h, 'accepts_labels', False)]


@contextlib.contextmanager
def labels_from_targets(bbox_head: nn.Module,
                        sampling_results: List[SamplingResult],
                        rcnn_train_cfg: ConfigDict):
    """Within, ``bbox_head``'s next forward takes the labels of
    ``sampling_results`` (``get_targets(...)[0]``, the labels mmdet's
    ``loss_and_target`` computes too). Stock box heads are left alone."""
    if not getattr(bbox_head, 'accepts_labels', False):
        yield
        return
    labels = bbox_head.get_targets(sampling_results, rcnn_train_cfg)[0]
    with bbox_head.labels_for_next_forward(labels):
        yield


class LabelPassingMixin:
    """Wraps a RoI head's ``loss`` and ``forward`` for causal box heads.

    Inside them, a box-head forward without labels is legitimate (the hard
    example mining of OHEM/ScoreHLR samplers, ``forward(mode='tensor')``)
    and leaves the moving average alone. After ``loss``, every causal stage
    that did not run joins its moving-average update with nothing to add:
    mmdet's ``CascadeRoIHead.loss`` leaves its stage loop when a stage has
    no RoI at all, and the update is a collective, so a rank that skipped
    it would leave the others waiting in the all-reduce for ever.
    """

    def loss(self, *args, **kwargs) -> dict:
        heads = _label_taking_heads(self)
        updates = [h.num_embed_updates for h in heads]
        with contextlib.ExitStack() as stack:
            for head in heads:
                stack.enter_context(head.label_free_forwards())
            losses = super().loss(*args, **kwargs)
        for head, before in zip(heads, updates):
            if head.num_embed_updates == before:
                head.join_embed_update()
        return losses

    def forward(self, *args, **kwargs) -> tuple:
        with contextlib.ExitStack() as stack:
            for head in _label_taking_heads(self):
                stack.enter_context(head.label_free_forwards())
            return super().forward(*args, **kwargs)
