# Copyright (c) mmdet-causal contributors. All rights reserved.
import contextlib
import functools
import json
from typing import Dict, NamedTuple, Optional, Sequence

import numpy as np
from mmdet.evaluation.metrics import LVISMetric
from mmdet.registry import METRICS
from mmengine.fileio import get_local_path

from .lvis_compat import patch_lvis_numpy

BACKENDS = ('hotcoco', 'official')


def check_lvis_gt(images: Sequence[dict], categories: Sequence[dict],
                  source: str) -> None:
    """Fail loudly on ground truth that is not LVIS, whatever the backend.

    The official API raises a bare ``KeyError`` deep inside evaluation, and a
    fast backend may silently treat a missing list as empty and report other
    numbers; both are worse than a clear error up front.
    """
    for img in images:
        for key in ('neg_category_ids', 'not_exhaustive_category_ids'):
            if not isinstance(img.get(key), list):
                raise ValueError(
                    f'{source}: image {img.get("id")} has no list '
                    f'"{key}": not LVIS ground truth. LVIS evaluation needs '
                    'the LVIS v1/v0.5 annotation files (or data in that '
                    'format); use CocoMetric for COCO-style annotations')
    for cat in categories:
        if cat.get('frequency') not in ('r', 'c', 'f'):
            raise ValueError(
                f'{source}: category {cat.get("id")} has frequency '
                f'{cat.get("frequency")!r}, expected "r", "c" or "f" (the '
                'LVIS frequency groups behind APr/APc/APf)')


class InMemoryResults(NamedTuple):
    """One iou type's detections for hotcoco, handed from ``results2json``
    to ``LVISResults`` without a JSON round trip: an ``(N, 7)`` array
    ``[image_id, x, y, w, h, score, category_id]`` in the order
    ``results2json`` would write (ties are broken by that order) and, for
    segm, the RLEs."""
    array: np.ndarray
    rles: Optional[list]


def hotcoco_lvis_results(lvis_gt,
                         results: InMemoryResults,
                         max_dets: int = 300):
    """``lvis.LVISResults`` on hotcoco: the detections with each image's
    ``max_dets`` highest-scoring kept across classes. Like the official
    API, raises IndexError when there is no detection at all."""
    import hotcoco
    if len(results.array) == 0:
        raise IndexError('no detection in the whole dataset')
    if results.rles is None:
        return hotcoco.LVISResults(lvis_gt, results.array, max_dets=max_dets)
    # the same per-image top-k cap as LVISResults
    dt = lvis_gt.load_res(results.array, segmentation=results.rles)
    return dt.cap_detections_per_image(max_dets) if max_dets >= 0 else dt


@contextlib.contextmanager
def lvis_api_for_mmdet(results_factory, eval_cls):
    """Run mmdet's ``LVISMetric.compute_metrics`` on another LVIS API.

    mmdet 3.3's ``compute_metrics`` calls the names ``LVISResults`` and
    ``LVISEval`` of its module (imported from ``lvis``); within this context
    they are the given ones. The one reach into mmdet's evaluation code,
    pinned by tests/test_mmdet_internals.py.
    """
    from mmdet.evaluation.metrics import lvis_metric
    saved = lvis_metric.LVISResults, lvis_metric.LVISEval
    lvis_metric.LVISResults, lvis_metric.LVISEval = results_factory, eval_cls
    try:
        yield
    finally:
        lvis_metric.LVISResults, lvis_metric.LVISEval = saved


@METRICS.register_module()
class FastLVISMetric(LVISMetric):
    """mmdet's :class:`LVISMetric` with a switchable evaluation backend.

    The evaluation is mmdet's own ``compute_metrics``, run on the LVIS API of
    the chosen backend (the way ``CocoMetric`` switches to ``COCOevalMP``):
    ``backend='hotcoco'`` (default) uses hotcoco's Rust port of the LVIS
    API, which takes the results in memory (no JSON round trip);
    ``backend='official'`` the ``lvis`` API itself (with the numpy
    compatibility fix of :mod:`.lvis_compat`). Both report the keys of
    ``LVISMetric`` (``lvis/bbox_AP``, ``..._APr``, ``..._APc``, ``..._APf``,
    ...), keep each image's ``max_dets`` highest-scoring detections across
    classes as the official ``LVISResults`` does, and honour
    ``neg_category_ids`` / ``not_exhaustive_category_ids``; the project's
    tests check every number against the official API. ``proposal`` and
    ``proposal_fast`` need ``backend='official'``.

    Args:
        backend (str): ``'hotcoco'`` or ``'official'``.
        max_dets (int): Detections kept per image before evaluation, across
            classes. Defaults to 300 (LVIS).
        Other args: as :class:`mmdet.evaluation.LVISMetric`.
    """

    def __init__(self,
                 ann_file: Optional[str] = None,
                 backend: str = 'hotcoco',
                 max_dets: int = 300,
                 **kwargs) -> None:
        if backend not in BACKENDS:
            raise ValueError(f'backend must be one of {BACKENDS}, got '
                             f'{backend!r}')
        if backend == 'hotcoco':
            try:
                import hotcoco  # noqa: F401
            except ImportError as e:
                raise ImportError(
                    'FastLVISMetric(backend="hotcoco") needs hotcoco: pip '
                    'install hotcoco==1.3.0, or use backend="official"') from e
            metrics = kwargs.get('metric', 'bbox')
            metrics = [metrics] if isinstance(metrics, str) else metrics
            if any(m.startswith('proposal') for m in metrics):
                raise ValueError(
                    'proposal metrics run on the official LVIS API; set '
                    'backend="official"')
        if backend == 'official':
            # the lvis API crashes on numpy >= 1.24 without it; applied
            # where that API is used, not on import mmdet_causal
            patch_lvis_numpy()
        # the parent would load ann_file with the official API; the chosen
        # backend loads it instead
        super().__init__(ann_file=None, **kwargs)
        self.backend = backend
        self.max_dets = max_dets
        self.ann_file = ann_file
        self._lvis_api = None if ann_file is None else self.load_gt(ann_file)

    # ------------------------------------------------------------------
    # ground truth
    # ------------------------------------------------------------------
    def load_gt(self, ann_file: str):
        """Load and check LVIS ground truth with this metric's backend."""
        with get_local_path(
                ann_file, backend_args=self.backend_args) as local_path:
            if self.backend == 'hotcoco':
                import hotcoco

                # hotcoco reads a missing list as an empty one, so the
                # check needs the raw file
                with open(local_path) as f:
                    dataset = json.load(f)
                check_lvis_gt(dataset['images'], dataset['categories'],
                              ann_file)
                del dataset
                return hotcoco.LVIS(local_path)
            from lvis import LVIS
            api = LVIS(local_path)
        check_lvis_gt(api.dataset['images'], api.dataset['categories'],
                      ann_file)
        return api

    # ------------------------------------------------------------------
    # evaluation: mmdet's compute_metrics, on the chosen API
    # ------------------------------------------------------------------
    def _in_memory(self, preds: Sequence[dict],
                   iou_type: str) -> InMemoryResults:
        """What ``results2json`` writes for ``iou_type``, as arrays. A segm
        detection keeps its box, as ``results2json`` writes it: the LVIS
        API then takes the box area as its area."""
        cat_ids = np.asarray(self.cat_ids, dtype=np.float64)
        rows, rles = [], []
        for idx, pred in enumerate(preds):
            n = len(pred['labels'])
            if n == 0:
                continue
            scores = pred['scores']
            if iou_type == 'segm':
                scores = pred.get('mask_scores', scores)
                for rle in pred['masks'][:n]:
                    counts = rle['counts']
                    rles.append(
                        dict(
                            size=rle['size'],
                            counts=counts.decode() if isinstance(
                                counts, bytes) else counts))
            # float64 arithmetic on the float32 boxes, exactly as
            # xyxy2xywh's Python floats
            boxes = pred['bboxes'].astype(np.float64)
            block = np.empty((n, 7), np.float64)
            block[:, 0] = pred.get('img_id', idx)
            block[:, 1:3] = boxes[:, :2]
            block[:, 3:5] = boxes[:, 2:4] - boxes[:, :2]
            block[:, 5] = np.asarray(scores).astype(np.float64)
            block[:, 6] = cat_ids[pred['labels']]
            rows.append(block)
        array = np.concatenate(rows) if rows else np.zeros((0, 7))
        return InMemoryResults(array, rles if iou_type == 'segm' else None)

    def results2json(self, results: Sequence[dict],
                     outfile_prefix: str) -> dict:
        """As mmdet's for the official backend. For hotcoco, the results in
        memory (and the JSON files too when ``outfile_prefix`` or
        ``format_only`` asks for them)."""
        if self.backend == 'official' or self.format_only:
            return super().results2json(results, outfile_prefix)
        if self.outfile_prefix is not None:
            super().results2json(results, outfile_prefix)
        return {
            iou_type: self._in_memory(results, iou_type)
            for iou_type in ('bbox', 'segm') if iou_type in self.metrics
        }

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """mmdet's :meth:`LVISMetric.compute_metrics`, unchanged, on the
        chosen backend's LVIS API (with this metric's ``max_dets``)."""
        if self._lvis_api is None and not self.format_only:
            raise ValueError(
                'FastLVISMetric needs ann_file= (the LVIS annotation file): '
                'LVIS ground truth cannot be rebuilt from the dataset without '
                'its negative/not-exhaustive lists')
        if self.backend == 'official':
            from lvis import LVISEval, LVISResults
            results_factory = functools.partial(
                LVISResults, max_dets=self.max_dets)
            eval_cls = LVISEval
        else:
            import hotcoco
            results_factory = functools.partial(
                hotcoco_lvis_results, max_dets=self.max_dets)
            eval_cls = hotcoco.LVISEval
        evals = []

        def recording_eval(lvis_gt, lvis_dt, iou_type):
            # the LVISEval objects mmdet runs, kept for the per-class AP
            evals.append((iou_type, eval_cls(lvis_gt, lvis_dt, iou_type)))
            return evals[-1][1]

        with lvis_api_for_mmdet(results_factory, recording_eval):
            eval_results = super().compute_metrics(results)
        if self.classwise:
            eval_results = self._per_class_by_iou(eval_results, evals)
        return eval_results

    def _per_class_by_iou(self, eval_results: Dict[str, float],
                          evals: list) -> Dict[str, float]:
        """Per-class AP under ``{iou}_{name}_precision`` keys.

        mmdet 3.3's ``LVISMetric(classwise=True)`` writes every class's AP
        as ``{name}_precision`` without the iou type, so with ``bbox`` and
        ``segm`` the box figures are overwritten by the mask ones. Here each
        iou type keeps its own, computed as mmdet does (mean precision over
        IoU thresholds and recalls, all areas; NaN for a class without
        ground truth; rounded to 3 decimals), named as ``CocoMetric`` names
        them; the ambiguous keys are dropped.
        """
        names = [cat['name'] for cat in self._lvis_api.load_cats(self.cat_ids)]
        for name in names:
            eval_results.pop(f'{name}_precision', None)
        for iou_type, lvis_eval in evals:
            if not getattr(lvis_eval.params, 'useCats', 1):
                continue  # the class-agnostic proposal evaluation
            precision = np.asarray(lvis_eval.eval['precision'])
            for idx, name in enumerate(names):
                p = precision[:, :, idx, 0]
                p = p[p > -1]
                ap = float(np.mean(p)) if p.size else float('nan')
                eval_results[f'{iou_type}_{name}_precision'] = round(ap, 3)
        return eval_results
