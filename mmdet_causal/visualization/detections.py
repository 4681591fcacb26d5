# Copyright (c) mmdet-causal contributors. All rights reserved.
"""A detector's predictions on one image at a test-time strength, with the
class probabilities of the RoI behind each detection."""
import contextlib
from typing import List, NamedTuple, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dataset import Compose

from mmdet_causal.apis.debias_sweep import Strength
from mmdet_causal.models.utils.norcal import norcal_calibration
from mmdet_causal.utils.tde import causal_bbox_heads, stage_bbox_heads


def load_detector(config: str, checkpoint: str, device: str = 'cpu'):
    """Build a detector from a config and a checkpoint with mmdet's
    ``init_detector``, a local one read once with ``weights_only=False``
    (ours store the class counts and mmengine's logs, which torch >= 2.6
    loads only so; the user named the file) without changing mmengine's
    checkpoint loader for the rest of the process. The checkpoint's
    ``meta`` is kept as ``model.checkpoint_meta`` (:func:`log_counts_for`
    reads it)."""
    from mmdet.apis import init_detector
    from mmdet.utils import register_all_modules

    import mmdet_causal  # noqa: F401 (registers the plugin's types)
    from mmdet_causal.utils.checkpoint_compat import trusted_local_checkpoints
    register_all_modules()
    with trusted_local_checkpoints([]) as loaded:
        model = init_detector(config, checkpoint, device=device)
    # a remote checkpoint went through mmengine's own loaders
    model.checkpoint_meta = loaded[0].get('meta', {}) if loaded else {}
    model.checkpoint_file = checkpoint
    return model


def class_names(model) -> List[str]:
    meta = getattr(model, 'dataset_meta', None) or {}
    names = meta.get('classes')
    if not names:
        names = model.cfg.get('metainfo', {}).get('classes')
    if not names:
        raise ValueError('the checkpoint and the config name no classes '
                         '(dataset_meta / metainfo.classes)')
    return list(names)


def image_batch(model, image: Union[str, np.ndarray]) -> dict:
    """One image through the config's test pipeline, annotations left out
    (there are none to load), as a batch for ``model.data_preprocessor``."""
    steps = [
        dict(step) for step in model.cfg.test_dataloader.dataset.pipeline
        if step['type'] != 'LoadAnnotations'
    ]
    if isinstance(image, np.ndarray):
        steps[0] = dict(type='mmdet.LoadImageFromNDArray')
        data = dict(img=image, img_id=0)
    else:
        data = dict(img_path=image, img_id=0)
    data = Compose(steps)(data)
    return dict(inputs=[data['inputs']], data_samples=[data['data_samples']])


def box_iou(a, b) -> float:
    """IoU of two ``(x1, y1, x2, y2)`` boxes."""
    ix = max(0., min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0., min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] -
                                                             b[1]) - inter
    return inter / max(union, 1e-9)


class RoIScores(NamedTuple):
    """What the last box head scored on one image: its RoIs (``(R, 5)``,
    the last stage's, in the resized image's frame), every RoI's class
    probabilities (``(R, C + 1)``, background last; with the autograd graph
    when predicted with gradients) and, per detection, the RoI it came
    from."""
    rois: torch.Tensor
    probs: torch.Tensor
    roi_of_det: torch.Tensor


def _roi_of_detections(probs: torch.Tensor, labels: torch.Tensor,
                       scores: torch.Tensor) -> torch.Tensor:
    """Each detection's RoI: the one whose probability of the detection's
    class is the detection's score (the head's NMS keeps the score as it
    is, so the match is exact; RoIs with equal probabilities are the same
    box, and the first is taken)."""
    probs = probs.detach()
    out = torch.empty(len(labels), dtype=torch.long)
    for j, (label, score) in enumerate(zip(labels.tolist(), scores.detach())):
        hits = torch.nonzero(probs[:, label] == score).flatten()
        if len(hits) == 0:
            raise RuntimeError(
                f'detection {j} (class {label}, score {float(score):.6f}) '
                'matches no RoI; the box head does not keep the scores it '
                'computed')
        out[j] = hits[0]
    return out


@contextlib.contextmanager
def capture_roi_scores(model):
    """Within the context, every image the last box head post-processes
    appends a :class:`RoIScores` to the yielded list.

    It wraps the head's ``_predict_by_feat_single`` (mmdet 3.3, private:
    pinned by tests/test_mmdet_internals.py), which receives each image's
    final ``cls_score`` after any calibration (NorCal) and the cascade's
    stage average, so the probabilities are those the detections were
    scored with.
    """
    head = stage_bbox_heads(model)[-1]
    if '_predict_by_feat_single' in vars(head):
        raise RuntimeError('the box head is already being captured')
    single = head._predict_by_feat_single
    records: List[RoIScores] = []

    def recording(roi,
                  cls_score,
                  bbox_pred,
                  img_meta,
                  rescale=False,
                  rcnn_test_cfg=None):
        results = single(
            roi=roi,
            cls_score=cls_score,
            bbox_pred=bbox_pred,
            img_meta=img_meta,
            rescale=rescale,
            rcnn_test_cfg=rcnn_test_cfg)
        if head.custom_cls_channels:  # Seesaw: its own activation
            probs = head.loss_cls.get_activation(cls_score)
        else:
            probs = F.softmax(cls_score, dim=-1)
        records.append(
            RoIScores(
                roi, probs,
                _roi_of_detections(probs, results.labels, results.scores)))
        return results

    head._predict_by_feat_single = recording
    try:
        yield records
    finally:
        del head._predict_by_feat_single


@contextlib.contextmanager
def at_strength(model,
                strength: Strength,
                log_counts: Optional[torch.Tensor] = None):
    """Within the context the model predicts at ``strength``: TDE's alpha
    set on every causal box head (restored afterwards) and NorCal at gamma
    (needs ``log_counts``)."""
    heads = causal_bbox_heads(model)
    saved = [h.alpha for h in heads]
    if strength.alpha is not None:
        if not heads:
            raise ValueError(f'{strength.name}: alpha needs causal box '
                             'heads; this model has none')
        for h in heads:
            h.alpha = strength.alpha  # checked by the setter
    try:
        if strength.gamma is not None:
            if log_counts is None:
                raise ValueError(
                    f'{strength.name}: NorCal needs the training class '
                    'counts (a checkpoint trained by our tools/train.py '
                    'holds them, or pass the training annotations)')
            with norcal_calibration(model, log_counts, strength.gamma):
                yield
        else:
            yield
    finally:
        for h, alpha in zip(heads, saved):
            h.alpha = alpha


def predict_with_scores(model,
                        batch: dict,
                        strength: Strength = Strength(),
                        log_counts: Optional[torch.Tensor] = None):
    """``model.predict`` on one preprocessed image at ``strength``; returns
    the data sample and its :class:`RoIScores`. Gradients flow when the
    caller enables them."""
    with at_strength(model, strength, log_counts), \
            capture_roi_scores(model) as records:
        sample, = model.predict(batch['inputs'], batch['data_samples'])
    record, = records
    return sample, record


def log_counts_for(model,
                   class_counts: Optional[str] = None,
                   count: str = 'instance_count') -> torch.Tensor:
    """NorCal's ``log N_c`` for the model's classes: from the training
    annotations named (``class_counts``) or else the counts our
    ``tools/train.py`` stored in the checkpoint (:func:`load_detector`)."""
    from mmdet_causal.engine.hooks.train_class_counts_hook import \
        CHECKPOINT_KEY
    from mmdet_causal.models.utils.norcal import norcal_log_counts
    from mmdet_causal.utils.class_counts import (counts_from_lvis_json,
                                                 select_counts)
    if class_counts is not None:
        record = counts_from_lvis_json(class_counts)
    else:
        record = getattr(model, 'checkpoint_meta', {}).get(CHECKPOINT_KEY)
        if record is None:
            source = getattr(model, 'checkpoint_file', 'the checkpoint')
            raise ValueError(
                f'{source} holds no class counts (or the model was not '
                'loaded with load_detector): pass the training annotation '
                'file (--class-counts) for NorCal')
    return norcal_log_counts(select_counts(record, count, class_names(model)))
