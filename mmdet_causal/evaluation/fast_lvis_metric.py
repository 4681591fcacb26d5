# Copyright (c) mmdet-causal contributors. All rights reserved.
import itertools
import json
import os.path as osp
import tempfile
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmdet.evaluation.metrics import LVISMetric
from mmdet.registry import METRICS
from mmengine.fileio import get_local_path
from mmengine.logging import MMLogger
from terminaltables import AsciiTable

from .lvis_compat import patch_lvis_numpy

BACKENDS = ('hotcoco', 'official')
DEFAULT_ITEMS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc',
                 'APf')


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


def _precision_by_class(precision: np.ndarray) -> np.ndarray:
    """(iou, recall, class, area[, max dets]) -> (iou, recall, class) at
    area 'all' (hotcoco keeps a trailing max-dets axis of size 1)."""
    precision = precision[:, :, :, 0]
    if precision.ndim == 4:
        precision = precision[..., -1]
    return precision


@METRICS.register_module()
class FastLVISMetric(LVISMetric):
    """mmdet's :class:`LVISMetric` with a switchable evaluation backend.

    ``backend='hotcoco'`` (default) evaluates with hotcoco's Rust port of the
    LVIS API, on results handed over in memory (no JSON round trip);
    ``backend='official'`` runs the official ``lvis`` API (with the numpy
    compatibility fix of :mod:`.lvis_compat`). Both report the same keys as
    ``LVISMetric`` (``lvis/bbox_AP``, ``..._APr``, ``..._APc``, ``..._APf``,
    ...), keep each image's ``max_dets`` highest-scoring detections across
    classes as the official ``LVISResults`` does, and honour
    ``neg_category_ids`` / ``not_exhaustive_category_ids``; the project's
    tests check every number against the official API. ``proposal`` and
    ``proposal_fast`` always use the official path of ``LVISMetric``.

    Args:
        backend (str): ``'hotcoco'`` or ``'official'``.
        max_dets (int): Detections kept per image before evaluation, across
            classes. Defaults to 300 (LVIS).
        Other args: as :class:`mmdet.evaluation.LVISMetric`.
    """

    def __init__(self,
                 ann_file: Optional[str] = None,
                 metric: Union[str, List[str]] = 'bbox',
                 classwise: bool = False,
                 proposal_nums: Sequence[int] = (100, 300, 1000),
                 iou_thrs: Optional[Union[float, Sequence[float]]] = None,
                 metric_items: Optional[Sequence[str]] = None,
                 format_only: bool = False,
                 outfile_prefix: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 backend_args: Optional[dict] = None,
                 backend: str = 'hotcoco',
                 max_dets: int = 300) -> None:
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
        if backend == 'official':
            # the lvis API crashes on numpy >= 1.24 without it; applied
            # where that API is used, not on import mmdet_causal
            patch_lvis_numpy()
        # the parent would load ann_file with the official API; the chosen
        # backend loads it instead
        super().__init__(
            ann_file=None,
            metric=metric,
            classwise=classwise,
            proposal_nums=proposal_nums,
            iou_thrs=iou_thrs,
            metric_items=metric_items,
            format_only=format_only,
            outfile_prefix=outfile_prefix,
            collect_device=collect_device,
            prefix=prefix,
            backend_args=backend_args)
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
    # evaluation of one iou type
    # ------------------------------------------------------------------
    def _hotcoco_results(self, preds: Sequence[dict], iou_type: str):
        """Detections in hotcoco's in-memory form, in the order of
        ``results2json`` (ties are broken by that order): an ``(N, 7)``
        array ``[image_id, x, y, w, h, score, category_id]`` and, for segm,
        the RLEs. A segm detection keeps its box, as ``results2json``
        writes it: the LVIS API then takes the box area as its area."""
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
        return array, rles

    def evaluate_iou_type(
            self,
            preds: Sequence[dict],
            iou_type: str,
            result_file: Optional[str] = None
    ) -> Tuple[Dict[str, float], object]:
        """Run the LVIS evaluation of one iou type with the backend.

        Args:
            preds (list[dict]): Per-image predictions as collected by
                ``process``.
            iou_type (str): ``'bbox'`` or ``'segm'``.
            result_file (str, optional): The ``results2json`` file (the
                official backend reads it; hotcoco takes ``preds``).

        Returns:
            tuple: the unrounded results of ``get_results()`` (empty if there
            is no detection at all) and the evaluation object.
        """
        gt = self._lvis_api
        if self.backend == 'hotcoco':
            import hotcoco
            dets, rles = self._hotcoco_results(preds, iou_type)
            if len(dets) == 0:
                return {}, None
            if iou_type == 'bbox':
                dt = hotcoco.LVISResults(gt, dets, max_dets=self.max_dets)
            else:
                # the same per-image top-k cap as LVISResults
                dt = gt.load_res(dets, segmentation=rles)
                if self.max_dets >= 0:
                    dt = dt.cap_detections_per_image(self.max_dets)
            lvis_eval = hotcoco.LVISEval(gt, dt, iou_type)
        else:
            from lvis import LVISEval, LVISResults
            try:
                dt = LVISResults(gt, result_file, max_dets=self.max_dets)
            except IndexError:  # the official API on an empty result list
                return {}, None
            lvis_eval = LVISEval(gt, dt, iou_type)
        lvis_eval.params.imgIds = self.img_ids
        lvis_eval.evaluate()
        lvis_eval.accumulate()
        lvis_eval.summarize()
        return {
            k: float(v)
            for k, v in lvis_eval.get_results().items()
        }, lvis_eval

    def _classwise_table(self, lvis_eval, eval_results: dict,
                         logger: MMLogger) -> None:
        precisions = _precision_by_class(
            np.asarray(lvis_eval.eval['precision']))
        assert len(self.cat_ids) == precisions.shape[2]
        per_category = []
        for idx, cat_id in enumerate(self.cat_ids):
            name = self._lvis_api.load_cats([cat_id])[0]['name']
            precision = precisions[:, :, idx]
            precision = precision[precision > -1]
            ap = float(np.mean(precision)) if precision.size else float('nan')
            per_category.append((name, f'{ap:0.3f}'))
            eval_results[f'{name}_precision'] = round(ap, 3)
        num_columns = min(6, len(per_category) * 2)
        flat = list(itertools.chain(*per_category))
        headers = ['category', 'AP'] * (num_columns // 2)
        rows = itertools.zip_longest(
            *[flat[i::num_columns] for i in range(num_columns)])
        logger.info('\n' + AsciiTable([headers] + list(rows)).table)

    # ------------------------------------------------------------------
    def compute_metrics(self, results: list) -> Dict[str, float]:
        """As :meth:`LVISMetric.compute_metrics`, on the chosen backend."""
        if any(m.startswith('proposal') for m in self.metrics) \
                or self._lvis_api is None:
            if self._lvis_api is None and not self.format_only:
                raise ValueError(
                    'FastLVISMetric needs ann_file= (the LVIS annotation '
                    'file): LVIS ground truth cannot be rebuilt from the '
                    'dataset without its negative/not-exhaustive lists')
            if self.backend != 'official':
                raise ValueError(
                    'proposal metrics and format_only without ann_file run '
                    'on the official path; set backend="official"')
            return super().compute_metrics(results)

        logger: MMLogger = MMLogger.get_current_instance()
        gts, preds = zip(*results)
        if self.cat_ids is None:
            self.cat_ids = self._lvis_api.get_cat_ids()
        if self.img_ids is None:
            self.img_ids = self._lvis_api.get_img_ids()

        tmp_dir = None
        result_files = {}
        if self.format_only or self.backend == 'official' \
                or self.outfile_prefix is not None:
            if self.outfile_prefix is None:
                tmp_dir = tempfile.TemporaryDirectory()
                outfile_prefix = osp.join(tmp_dir.name, 'results')
            else:
                outfile_prefix = self.outfile_prefix
            result_files = self.results2json(preds, outfile_prefix)
        eval_results = OrderedDict()
        if self.format_only:
            logger.info(f'results are saved in {osp.dirname(outfile_prefix)}')
            return eval_results

        try:
            for metric in self.metrics:
                logger.info(f'Evaluating {metric} ({self.backend})...')
                lvis_results, lvis_eval = self.evaluate_iou_type(
                    preds, metric, result_files.get(metric))
                if lvis_eval is None:
                    logger.info(
                        'The testing results of the whole dataset is empty.')
                    break
                if self.classwise:
                    self._classwise_table(lvis_eval, eval_results, logger)
                items = self.metric_items or DEFAULT_ITEMS
                for k, v in lvis_results.items():
                    if k in items:
                        eval_results[f'{metric}_{k}'] = float(f'{v:.3f}')
                lvis_eval.print_results()
        finally:
            if tmp_dir is not None:
                tmp_dir.cleanup()
        return eval_results
