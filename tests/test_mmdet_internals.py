# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The mmdet/mmengine internals the plugin reaches into, pinned.

Each reach is in one place (the box head's ``loss_and_target`` and its
capture of ``fc_cls``'s input, the optimizer hook of
mmdet_causal/models/utils/embed_sync.py, the sweep's block at the top of
mmdet_causal/apis/debias_sweep.py, FastLVISMetric's lvis_api_for_mmdet, the
config scope in mmdet_causal/stack.py, the figures' capture of the last box
head's scores in mmdet_causal/visualization/detections.py),
written against mmdet 3.3.0 / mmengine 0.10.7. If a new version changes one
of these signatures this test fails and names it, before a silently wrong
result can."""
import inspect
import unittest

from mmdet.models.roi_heads import (CascadeRoIHead, HybridTaskCascadeRoIHead,
                                    StandardRoIHead)
from mmdet.models.roi_heads.bbox_heads import BBoxHead, ConvFCBBoxHead
from mmdet.models.roi_heads.mask_heads import FCNMaskHead, HTCMaskHead
from torch.optim.optimizer import register_optimizer_step_post_hook

from mmdet_causal.apis.debias_sweep import MASK_PREDICT_BY_FEAT_ARGS


def params(func):
    return tuple(inspect.signature(func).parameters)


class TestMmdetInternals(unittest.TestCase):

    def check(self, func, expected):
        self.assertEqual(
            params(func), expected,
            f'{func.__qualname__} changed: mmdet_causal was written against '
            f'mmdet 3.3.0, where it takes {expected}')

    def test_moving_average_in_loss_and_target(self):
        # every RoI head's bbox_loss runs the box head, then hands the
        # scores of that forward to loss_and_target, whose targets' labels
        # the causal head takes (bbox_targets[0])
        self.check(
            BBoxHead.loss_and_target,
            ('self', 'cls_score', 'bbox_pred', 'rois', 'sampling_results',
             'rcnn_train_cfg', 'concat', 'reduction_override'))
        for roi_head in (StandardRoIHead, CascadeRoIHead,
                         HybridTaskCascadeRoIHead):
            source = inspect.getsource(roi_head.bbox_loss)
            self.assertIn('loss_and_target(', source, roi_head.__name__)
            self.assertIn("cls_score=bbox_results['cls_score']", source,
                          roi_head.__name__)
        # the box head keeps the input of fc_cls inside mmdet's forward
        self.check(ConvFCBBoxHead.forward, ('self', 'x'))
        self.assertIn('self.fc_cls(x_cls)',
                      inspect.getsource(ConvFCBBoxHead.forward))
        # the cascade loop's early exit, why the average moves at the
        # optimizer step and not in a stage
        self.assertIn('break', inspect.getsource(CascadeRoIHead.loss))
        # the point every rank passes
        self.check(register_optimizer_step_post_hook, ('hook', ))

    def test_alpha_sweep(self):
        self.check(CascadeRoIHead._refine_roi,
                   ('self', 'x', 'rois', 'batch_img_metas',
                    'num_proposals_per_img', 'kwargs'))
        self.check(StandardRoIHead._bbox_forward, ('self', 'x', 'rois'))
        self.check(HybridTaskCascadeRoIHead._bbox_forward,
                   ('self', 'stage', 'x', 'rois', 'semantic_feat'))
        self.assertIn('semantic_heat',
                      params(HybridTaskCascadeRoIHead.predict_mask))
        self.check(BBoxHead.predict_by_feat,
                   ('self', 'rois', 'cls_scores', 'bbox_preds',
                    'batch_img_metas', 'rcnn_test_cfg', 'rescale'))
        for head in (FCNMaskHead, HTCMaskHead):
            self.check(head.predict_by_feat,
                       ('self', ) + MASK_PREDICT_BY_FEAT_ARGS)
        # the stage average the sweep repeats
        self.assertIn('/ float(len(ms_scores))',
                      inspect.getsource(CascadeRoIHead._refine_roi))

    def test_lvis_metric(self):
        # FastLVISMetric runs mmdet's compute_metrics with these two
        # module-level names bound to the chosen backend's API
        from mmdet.evaluation.metrics import LVISMetric, lvis_metric
        self.assertTrue(hasattr(lvis_metric, 'LVISResults'))
        self.assertTrue(hasattr(lvis_metric, 'LVISEval'))
        source = inspect.getsource(LVISMetric.compute_metrics)
        self.assertIn('LVISResults(lvis_gt, result_files[metric])', source)
        self.assertIn('LVISEval(lvis_gt, lvis_dt, iou_type)', source)
        # the per-class AP FastLVISMetric re-keys by iou type
        self.assertIn("eval_results[f'{nm[\"name\"]}_precision']", source)
        self.assertIn('self.results2json(preds, outfile_prefix)', source)

    def test_figures_capture(self):
        # capture_roi_scores wraps the per-image post-processing, called by
        # keyword from predict_by_feat; the detections keep the scores
        # computed there (matched to their RoI by value)
        self.check(BBoxHead._predict_by_feat_single,
                   ('self', 'roi', 'cls_score', 'bbox_pred', 'img_meta',
                    'rescale', 'rcnn_test_cfg'))
        self.assertIn('self._predict_by_feat_single(',
                      inspect.getsource(BBoxHead.predict_by_feat))
        # layer='auto' asks the RoI extractor for a RoI's level
        from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
        self.check(SingleRoIExtractor.map_roi_levels,
                   ('self', 'rois', 'num_levels'))

    def test_config_scope(self):
        from mmengine.config import utils
        self.assertIsInstance(utils.MODULE2PACKAGE, dict)
        self.assertEqual(
            utils.MODULE2PACKAGE.get('mmdet_causal'), 'mmdet-causal')


if __name__ == '__main__':
    unittest.main()
