# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Detections for many test-time strengths from one pass of the network.

Two post-hoc knobs, swept together (every pair of the two lists):

* TDE's alpha on causal box heads. TDE is linear in alpha: each causal
  stage's test logits are ``combine(y, alpha * y0_unit)`` with ``y`` and
  ``y0_unit`` independent of alpha (:meth:`CausalConvFCBBoxHead.tde_terms`).
* NorCal's gamma on any softmax box head (:mod:`mmdet_causal.models.utils.
  norcal`): a per-class shift of the ``cls_score`` that the last stage's
  ``predict_by_feat`` receives.

One forward records the per-stage terms; every strength then redoes only
the cheap parts, on exactly the code path of ``roi_head.predict`` (score
combination, the cascade's stage average, NorCal, the last head's
``predict_by_feat`` with NMS, and mask pasting). The mask head runs once, on
the distinct boxes of all strengths' detections, and each distinct
detection is pasted once.

This holds when the boxes do not depend on the strength: NorCal never
changes them (it acts after the cascade's refinement); TDE does not with
class-agnostic regression between cascade stages (the refinement otherwise
follows the argmax class), which :class:`DebiasSweeper` checks.
"""
import contextlib
from typing import Dict, List, NamedTuple, Optional, Sequence

import torch
from mmdet.models.roi_heads import (CascadeRoIHead, HybridTaskCascadeRoIHead,
                                    StandardRoIHead)
from mmdet.models.roi_heads.bbox_heads import SABLHead
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox2roi
from mmengine.structures import InstanceData

from mmdet_causal.models.roi_heads import (CausalCascadeRoIHead,
                                           CausalHybridTaskCascadeRoIHead,
                                           CausalStandardRoIHead)
from mmdet_causal.models.roi_heads.bbox_heads import CausalConvFCBBoxHead
from mmdet_causal.models.utils.norcal import check_softmax_head, norcal_scores
from mmdet_causal.models.utils.strength import check_alpha, check_gamma
from mmdet_causal.models.utils.tde_probe import TDEProbe
from mmdet_causal.utils.tde import stage_bbox_heads

# The RoI heads whose predict path the sweep reproduces, tested in
# tests/test_apis/test_debias_sweep.py. Exact types: a subclass may override
# predict, predict_bbox, _refine_roi or rescore masks (Mask Scoring,
# PointRend, Grid, Trident, SCNet, Sparse), which the sweep would not do.
SUPPORTED_ROI_HEADS = (StandardRoIHead, CascadeRoIHead,
                       HybridTaskCascadeRoIHead, CausalStandardRoIHead,
                       CausalCascadeRoIHead, CausalHybridTaskCascadeRoIHead)


# ----------------------------------------------------------------------
# The mmdet internals this module relies on, all in this block, read from
# mmdet 3.3.0 (tests/test_mmdet_internals.py fails loudly when one of these
# signatures changes; the bit-equality tests catch a changed behaviour).
# ----------------------------------------------------------------------
def _refine_roi(roi_head, x, rois, batch_img_metas, num_per_img, **kwargs):
    """``CascadeRoIHead._refine_roi`` (private): every stage's forward and
    the box refinement between stages, as ``predict_bbox`` runs them.
    Returns the last stage's RoIs, the averaged scores and the box deltas
    per image."""
    return roi_head._refine_roi(
        x=x,
        rois=rois,
        batch_img_metas=batch_img_metas,
        num_proposals_per_img=num_per_img,
        **kwargs)


def _stage_average(stage_scores: list) -> torch.Tensor:
    """What ``CascadeRoIHead._refine_roi`` does with the stages' per-image
    ``cls_score`` (same operations, same order, so equal bit for bit)."""
    return sum(stage_scores) / float(len(stage_scores))


def _bbox_forward(roi_head, x, rois) -> dict:
    """``StandardRoIHead._bbox_forward`` (private)."""
    return roi_head._bbox_forward(x, rois)


def _semantic_feat(roi_head, x):
    """The semantic feature HTC's ``predict`` computes."""
    return roi_head.semantic_head(x)[1]


def _predict_mask(roi_head, x, batch_img_metas, results_list, rescale,
                  semantic_feat):
    """The RoI head's own ``predict_mask``. mmdet 3.3's HTC takes the
    semantic feature under the misspelt keyword ``semantic_heat`` (its own
    ``predict`` passes it so)."""
    kwargs = {}
    if isinstance(roi_head, HybridTaskCascadeRoIHead):
        kwargs['semantic_heat'] = semantic_feat
    return roi_head.predict_mask(
        x,
        batch_img_metas=batch_img_metas,
        results_list=results_list,
        rescale=rescale,
        **kwargs)


# The arguments with which predict_mask calls the mask head's
# predict_by_feat (FCNMaskHead, HTCMaskHead), replaced while capturing.
MASK_PREDICT_BY_FEAT_ARGS = ('mask_preds', 'results_list', 'batch_img_metas',
                             'rcnn_test_cfg', 'rescale', 'activate_map')


@contextlib.contextmanager
def _capture_mask_preds(mask_head):
    """Run the RoI head's own ``predict_mask`` up to the pasting, and keep
    what it would paste: its call of the mask head's ``predict_by_feat``
    (FCNMaskHead, HTCMaskHead) is answered here."""
    captured = {}

    def capture(mask_preds,
                results_list,
                batch_img_metas,
                rcnn_test_cfg,
                rescale=False,
                activate_map=False):
        captured.update(mask_preds=mask_preds, activate_map=activate_map)
        return results_list

    mask_head.predict_by_feat = capture
    try:
        yield captured
    finally:
        del mask_head.predict_by_feat  # back to the class's method


@contextlib.contextmanager
def _channels_picked(mask_head):
    """Paste (R, 1) maps whose class channel is already picked: the head's
    class-agnostic path, which pastes them as they are."""
    agnostic = mask_head.class_agnostic
    mask_head.class_agnostic = True
    try:
        yield
    finally:
        mask_head.class_agnostic = agnostic


def _rescale_boxes(results_list, batch_img_metas):
    """What mask pasting does to the boxes when rescaling, without the
    masks."""
    for res, meta in zip(results_list, batch_img_metas):
        scale = res.bboxes.new_tensor(meta['scale_factor']).repeat((1, 2))
        res.bboxes = res.bboxes / scale
    return results_list


def _to_samples(data_samples, results_list):
    """One sample per image, as ``add_pred_to_datasample`` leaves it: the
    input's fields (ground truth included, shared, not copied) and these
    ``pred_instances``."""
    samples = []
    for ds, res in zip(data_samples, results_list):
        sample = ds.new()  # metainfo copied, data fields shared
        sample.pred_instances = res
        samples.append(sample)
    return samples


def _instances(bboxes, labels) -> InstanceData:
    """Boxes to send through the mask head or to paste (scores of 1)."""
    return InstanceData(
        bboxes=bboxes, labels=labels, scores=bboxes.new_ones((len(bboxes), )))


class Strength(NamedTuple):
    """One test-time setting of a sweep.

    ``alpha``: TDE's alpha on every causal box head; None keeps the heads'
    own scores (a stock head, or a causal head at its configured alpha).
    ``gamma``: NorCal's gamma; None applies no calibration (no class counts
    needed), 0 applies it with no effect.
    """
    alpha: Optional[float] = None
    gamma: Optional[float] = None

    @property
    def name(self) -> str:
        parts = [f'alpha={self.alpha:g}'] if self.alpha is not None else []
        if self.gamma is not None:
            parts.append(f'gamma={self.gamma:g}')
        return ','.join(parts) or 'model'


def strength_grid(alphas: Optional[Sequence[float]] = None,
                  gammas: Optional[Sequence[float]] = None) -> List[Strength]:
    """Every (alpha, gamma) pair of two lists, sorted and deduplicated; a
    list that is None or empty contributes ``None`` (that knob untouched)."""
    alphas = sorted({check_alpha(a) for a in alphas}) if alphas else [None]
    gammas = sorted({check_gamma(g) for g in gammas}) if gammas else [None]
    return [Strength(a, g) for a in alphas for g in gammas]


class DebiasSweeper:
    """Predict for several TDE alphas and NorCal gammas at the cost of about
    one inference.

    Args:
        model: A built two-stage detector (eval mode) whose RoI head is
            one of ``SUPPORTED_ROI_HEADS`` (Standard, Cascade, HTC, stock or
            causal).
        settings (Sequence[Strength]): The strengths (:func:`strength_grid`).
            Sweeping alphas needs causal box heads with TDE at every stage;
            NorCal gammas need softmax box heads (any, stock included) and
            ``log_counts``.
        log_counts (Tensor, optional): ``log N_c`` of the training classes
            (:func:`norcal_log_counts`), for NorCal.
        with_masks (bool): Predict masks (only needed for ``segm``
            evaluation). Defaults to True.

    Raises:
        ValueError: For a model or setting the one-pass sweep cannot
            reproduce exactly.
    """

    def __init__(self,
                 model,
                 settings: Sequence[Strength],
                 log_counts: Optional[torch.Tensor] = None,
                 with_masks: bool = True) -> None:
        self.model = model
        self.with_masks = with_masks
        settings = [Strength(*s) for s in settings]
        if not settings:
            raise ValueError('no strengths to sweep')
        if len(set(settings)) != len(settings):
            raise ValueError('the strengths to sweep must be distinct')
        self.settings = settings
        roi_head = model.roi_head
        if type(roi_head) not in SUPPORTED_ROI_HEADS:
            names = ', '.join(t.__name__ for t in SUPPORTED_ROI_HEADS)
            raise ValueError(
                f'the one-pass sweep does not reproduce the predictions of '
                f'{type(roi_head).__name__}; it supports exactly {names}. '
                'Run tools/test.py once per strength instead')
        self.cascade = isinstance(roi_head, CascadeRoIHead)
        heads = stage_bbox_heads(model)
        odd = [
            type(h).__name__ for h in heads
            if isinstance(h, SABLHead) or not getattr(h, 'with_reg', True)
        ]
        if odd:
            raise ValueError(
                f'the one-pass sweep reproduces box heads that regress one '
                f'delta tensor; {", ".join(odd)} do not. Run tools/test.py '
                'once per strength instead')
        self.heads = heads
        self.sweep_alpha = any(s.alpha is not None for s in settings)
        if self.sweep_alpha:
            for s in settings:
                check_alpha(s.alpha)
            self._check_tde_heads(heads)
        self.log_counts = None
        if any(s.gamma is not None for s in settings):
            for s in settings:
                if s.gamma is not None:
                    check_gamma(s.gamma)
            check_softmax_head(heads[-1])
            if log_counts is None:
                raise ValueError(
                    'NorCal gammas need the class counts of the training '
                    'set (log_counts)')
            self.log_counts = log_counts

    def _check_tde_heads(self, heads) -> None:
        if not all(isinstance(h, CausalConvFCBBoxHead) for h in heads):
            raise ValueError(
                'every box head must be a causal one (Causal*BBoxHead) to '
                'sweep TDE alphas; use a causal config (NorCal gammas work '
                'on any softmax box head)')
        if not all(h.use_tde for h in heads):
            raise ValueError('use_tde is off in the config; the sweep needs '
                             'the TDE terms (drop --no-tde / use_tde=False)')
        configured = all(s.alpha == h.alpha for s in self.settings
                         for h in heads)
        if self.cascade and not configured and not all(h.reg_class_agnostic
                                                       for h in heads[:-1]):
            raise ValueError(
                'a cascade with class-specific box regression refines its '
                'RoIs along the argmax class, which depends on alpha; the '
                'one-pass sweep would not equal tools/test.py --tde-alpha. '
                'Run tools/test.py once per alpha instead')

    # ------------------------------------------------------------------
    @contextlib.contextmanager
    def _record(self):
        """Collect, for every box-head forward in order, the TDE terms
        ``(y, y0_unit)`` when sweeping alphas, else the ``cls_score`` the
        head returned."""
        if self.sweep_alpha:
            with TDEProbe(self.heads, record_terms=True) as probe:
                yield probe.terms
            return
        records = []
        handles = [
            head.register_forward_hook(
                lambda module, args, out: records.append(out[0]))
            for head in self.heads
        ]
        try:
            yield records
        finally:
            for handle in handles:
                handle.remove()

    def _cls_scores(self, records: list, setting: Strength,
                    num_per_img: Sequence[int]) -> list:
        """The per-image ``cls_score`` that ``predict`` would hand to
        ``predict_by_feat`` at ``setting`` (same operations, same order)."""
        if self.sweep_alpha:
            stage_scores = [
                head.combine_scores(y, y0_unit,
                                    setting.alpha).split(num_per_img, 0)
                for head, (y, y0_unit) in zip(self.heads, records)
            ]
        else:
            stage_scores = [score.split(num_per_img, 0) for score in records]
        if not self.cascade:
            scores = list(stage_scores[0])
        else:
            scores = [
                _stage_average([score[i] for score in stage_scores])
                for i in range(len(num_per_img))
            ]
        if setting.gamma is not None:  # as norcal_calibration does
            scores = [
                norcal_scores(s, self.log_counts, setting.gamma)
                for s in scores
            ]
        return scores

    @torch.no_grad()
    def predict(self, data: dict) -> Dict[Strength, List[DetDataSample]]:
        """One batch of the test dataloader -> data samples per strength."""
        model, roi_head = self.model, self.model.roi_head
        data = model.data_preprocessor(data, False)
        inputs, data_samples = data['inputs'], data['data_samples']
        batch_img_metas = [s.metainfo for s in data_samples]
        x = model.extract_feat(inputs)
        if data_samples[0].get('proposals', None) is None:
            rpn_results = model.rpn_head.predict(
                x, data_samples, rescale=False)
        else:
            rpn_results = [s.proposals for s in data_samples]

        kwargs = {}
        if getattr(roi_head, 'with_semantic', False):
            kwargs['semantic_feat'] = _semantic_feat(roi_head, x)
        rescale = True
        bbox_rescale = rescale if not roi_head.with_mask else False
        proposals = [res.bboxes for res in rpn_results]
        num_per_img = tuple(len(p) for p in proposals)
        rois = bbox2roi(proposals)

        if rois.shape[0] == 0:  # nothing to score: the same for any setting
            results = roi_head.predict(x, rpn_results, data_samples, rescale)
            return {
                s: _to_samples(data_samples, results)
                for s in self.settings
            }

        with self._record() as records:
            if self.cascade:
                rois, _, bbox_preds = _refine_roi(roi_head, x, rois,
                                                  batch_img_metas, num_per_img,
                                                  **kwargs)
            else:
                out = _bbox_forward(roi_head, x, rois)
                rois = rois.split(num_per_img, 0)
                bbox_preds = out['bbox_pred'].split(num_per_img, 0)
        last_head = self.heads[-1]
        per_setting = {}
        for setting in self.settings:
            per_setting[setting] = last_head.predict_by_feat(
                rois=rois,
                cls_scores=self._cls_scores(records, setting, num_per_img),
                bbox_preds=bbox_preds,
                batch_img_metas=batch_img_metas,
                rcnn_test_cfg=roi_head.test_cfg,
                rescale=bbox_rescale)
        if roi_head.with_mask and self.with_masks:
            self._add_masks(x, batch_img_metas, per_setting, kwargs, rescale)
        elif roi_head.with_mask:  # boxes were kept unscaled for the masks
            per_setting = {
                s: _rescale_boxes(res, batch_img_metas)
                for s, res in per_setting.items()
            }
        return {
            s: _to_samples(data_samples, res)
            for s, res in per_setting.items()
        }

    def _mask_head(self):
        roi_head = self.model.roi_head
        return roi_head.mask_head[-1] if self.cascade else roi_head.mask_head

    def _add_masks(self, x, batch_img_metas, per_setting, kwargs, rescale):
        """Masks for every strength's detections, each computed once.

        The mask head's output for a RoI depends only on its box (RoI
        features, HTC's semantic feature and mask information flow are all
        per RoI; the class only picks the channel that is pasted), and a
        pasted mask only on its (label, box) row and the image. So the head
        runs, through the RoI head's own ``predict_mask``, once per distinct
        box of the union of all strengths' detections (fewer RoIs than one
        ``predict``, where the classes kept for a box each send it through
        the head), each distinct (label, box) row is pasted once by the
        head's own ``predict_by_feat`` (from its class channel alone, so
        no (rows, num_classes) maps are held), and each strength takes its
        rows.
        """
        roi_head, mask_head = self.model.roi_head, self._mask_head()
        boxes, rows, box_of_rows, index = self._distinct_rows(per_setting)
        if sum(len(b) for b in boxes):
            rows = self._paste_rows(x, batch_img_metas, boxes, rows,
                                    box_of_rows, kwargs, rescale)
        for setting, results in per_setting.items():
            for i, (res, meta) in enumerate(zip(results, batch_img_metas)):
                if len(res) == 0:
                    # the head's own empty result (mask fields of the
                    # right shape); no mask prediction is read
                    results[i] = mask_head.predict_by_feat(
                        mask_preds=[None],
                        results_list=[res],
                        batch_img_metas=[meta],
                        rcnn_test_cfg=roi_head.test_cfg,
                        rescale=rescale)[0]
                    continue
                if rescale:  # as pasting does to the boxes
                    _rescale_boxes([res], [meta])
                res.masks = rows[i].masks[index[setting][i].to(
                    rows[i].masks.device)]

    def _distinct_rows(self, per_setting):
        """Per image: the distinct boxes of all strengths' detections, the
        distinct (label, box) rows, each row's box, and each strength's
        detections as rows."""
        boxes, rows, box_of_rows = [], [], []
        index = {a: [] for a in per_setting}
        for i in range(len(per_setting[self.settings[0]])):
            results = [per_setting[a][i] for a in self.settings]
            # one row per detection: (label, box); equal rows share a mask
            cat_rows = torch.cat([
                torch.cat([r.labels[:, None].to(r.bboxes.dtype), r.bboxes], 1)
                for r in results
            ])
            uniq, inverse = torch.unique(cat_rows, dim=0, return_inverse=True)
            for setting, idx in zip(self.settings,
                                    inverse.split([len(r) for r in results])):
                index[setting].append(idx)
            uniq_boxes, box_of_row = torch.unique(
                uniq[:, 1:], dim=0, return_inverse=True)
            boxes.append(
                _instances(
                    uniq_boxes,
                    uniq_boxes.new_zeros((len(uniq_boxes), ),
                                         dtype=torch.long)))
            rows.append(_instances(uniq[:, 1:], uniq[:, 0].long()))
            box_of_rows.append(box_of_row)
        return boxes, rows, box_of_rows, index

    def _paste_rows(self, x, batch_img_metas, boxes, rows, box_of_rows, kwargs,
                    rescale):
        """The mask head once on the distinct boxes, and each distinct row
        pasted once from its class channel."""
        roi_head, mask_head = self.model.roi_head, self._mask_head()
        with _capture_mask_preds(mask_head) as captured:
            _predict_mask(roi_head, x, batch_img_metas, boxes, rescale,
                          kwargs.get('semantic_feat'))
        mask_preds = []
        for preds, row, box_of_row in zip(captured['mask_preds'], rows,
                                          box_of_rows):
            box_index = box_of_row.to(preds.device)
            if mask_head.class_agnostic:
                mask_preds.append(preds[box_index])
            else:
                # the channel the head would pick, picked here: (R, 1)
                # maps rather than (R, num_classes) (1203 on LVIS)
                labels = row.labels.to(preds.device)
                mask_preds.append(preds[box_index, labels][:, None])
        with _channels_picked(mask_head):
            return mask_head.predict_by_feat(
                mask_preds=mask_preds,
                results_list=rows,
                batch_img_metas=batch_img_metas,
                rcnn_test_cfg=roi_head.test_cfg,
                rescale=rescale,
                activate_map=captured['activate_map'])
