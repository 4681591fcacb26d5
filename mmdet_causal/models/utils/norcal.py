# Copyright (c) mmdet-causal contributors. All rights reserved.
"""NorCal: post-hoc calibration of a softmax detector by class frequency.

Pan et al., "On Model Calibration for Long-Tailed Object Detection and
Instance Segmentation", NeurIPS 2021, Eq. 4-5: each foreground class's
probability is divided by ``N_c ** gamma``, ``N_c`` the class's number of
training instances, the background probability is left as it is, and the
scores are renormalised over all ``C + 1`` classes. In logits that is

    z_c = y_c - gamma * log N_c   (foreground c),   z_bg = y_bg,

followed by the detector's own softmax. No retraining; it works on any
box head whose ``cls_score`` goes through a plain softmax over ``C + 1``
logits, stock heads included. On a causal head with TDE, ``cls_score`` is
``log P`` (background-exempted TDE), so NorCal composes with TDE on the
TDE probabilities. In a cascade it is applied once, to the stages' averaged
``cls_score`` that the last stage's ``predict_by_feat`` turns into
probabilities: the shift is the same for every stage, so applying it after
the average equals applying it to each stage.
"""
import contextlib
import logging
from typing import Sequence

import torch
from mmengine.logging import print_log
from torch import Tensor, nn

from .strength import check_gamma


def norcal_log_counts(counts: Sequence[float]) -> Tensor:
    """``log N_c`` of the foreground classes, in float64.

    A class without training instances (``N_c = 0``) is counted as 1, with
    a warning: ``log 0`` would give it an infinite score; as 1 it gets no
    shift, like the rarest trained classes."""
    counts = torch.as_tensor(counts, dtype=torch.float64)
    if counts.dim() != 1 or not len(counts):
        raise ValueError('class counts must be a non-empty 1-d sequence, one '
                         'per foreground class')
    if not torch.isfinite(counts).all() or (counts < 0).any():
        raise ValueError('class counts must be finite and >= 0')
    empty = int((counts < 1).sum())
    if empty:
        print_log(
            f'NorCal: {empty} class(es) have no training instances; they '
            'are counted as 1 (no shift, as the rarest trained classes)',
            logger='current',
            level=logging.WARNING)
    return counts.clamp(min=1).log()


def norcal_scores(cls_score: Tensor, log_counts: Tensor,
                  gamma: float) -> Tensor:
    """NorCal-calibrated ``cls_score`` (logits of ``C + 1`` classes, the
    background last): ``z_c = y_c - gamma * log N_c`` for the foreground,
    ``z_bg = y_bg``. ``softmax`` of the result is the calibrated
    probability. The shift is computed in float32 (float64 stays) and the
    result returned in the input's dtype.

    Args:
        cls_score (Tensor): ``(N, C + 1)`` logits (or log-probabilities).
        log_counts (Tensor): ``(C, )`` ``log N_c`` (:func:`norcal_log_counts`).
        gamma (float): The strength, ``>= 0``.
    """
    num_fg = cls_score.shape[-1] - 1
    if log_counts.numel() != num_fg:
        raise ValueError(
            f'NorCal has counts for {log_counts.numel()} classes but the box '
            f'head scores {num_fg} foreground classes; give the class counts '
            'of the dataset the model was trained on')
    dtype = torch.promote_types(cls_score.dtype, torch.float32)
    shift = gamma * log_counts.to(device=cls_score.device, dtype=dtype)
    z = cls_score.to(dtype)
    z = torch.cat([z[:, :num_fg] - shift, z[:, num_fg:]], dim=1)
    return z.to(cls_score.dtype)


def check_softmax_head(bbox_head: nn.Module) -> None:
    """Raise unless ``bbox_head`` scores classes by a softmax over ``C + 1``
    logits, which NorCal's formula assumes."""
    loss_cls = getattr(bbox_head, 'loss_cls', None)
    if getattr(bbox_head, 'custom_cls_channels', False) or getattr(
            loss_cls, 'use_sigmoid', False):
        raise ValueError(
            f'NorCal needs a box head that scores with a softmax over C + 1 '
            f'logits; {type(bbox_head).__name__} uses '
            f'{type(loss_cls).__name__} with its own activation (e.g. Seesaw '
            'or sigmoid losses). Calibrate a model trained with '
            'CrossEntropyLoss (use_sigmoid=False) instead')


@contextlib.contextmanager
def norcal_calibration(model: nn.Module, log_counts: Tensor, gamma: float):
    """Within the context, ``model.predict`` (and ``test_step``) returns
    NorCal-calibrated detections.

    The last box head's ``predict_by_feat`` receives the per-image
    ``cls_score`` that the RoI head computed (a cascade's stage average) and
    calibrates it before its own softmax, score threshold and NMS. The RoI
    heads' ``predict`` runs as mmdet wrote it.

    Args:
        model: A two-stage detector (or a wrapper of one) with softmax box
            heads.
        log_counts (Tensor): ``(C, )`` ``log N_c`` of the training classes.
        gamma (float): The strength, ``>= 0``.

    Example:
        >>> from mmdet_causal.utils.class_counts import (
        ...     counts_from_lvis_json, select_counts)
        >>> record = counts_from_lvis_json('lvis_v1_train.json')
        >>> counts = select_counts(record, 'instance_count',
        ...                        model.dataset_meta['classes'])
        >>> with norcal_calibration(model, norcal_log_counts(counts), 0.6):
        ...     results = inference_detector(model, 'demo.jpg')
    """
    # mmdet_causal.utils imports this package: import it here, not above
    from mmdet_causal.utils.tde import stage_bbox_heads
    gamma = check_gamma(gamma)
    # the head whose predict_by_feat makes the detections
    head = stage_bbox_heads(model)[-1]
    check_softmax_head(head)
    if 'predict_by_feat' in vars(head):
        raise RuntimeError('predict_by_feat of the last box head is already '
                           'wrapped; NorCal contexts do not nest')
    predict_by_feat = head.predict_by_feat

    def calibrated(rois, cls_scores, *args, **kwargs):
        cls_scores = [
            norcal_scores(s, log_counts, gamma) if s is not None else s
            for s in cls_scores
        ]
        return predict_by_feat(rois, cls_scores, *args, **kwargs)

    head.predict_by_feat = calibrated
    try:
        yield
    finally:
        del head.predict_by_feat
