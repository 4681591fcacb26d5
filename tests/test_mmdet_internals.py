# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The mmdet/mmengine internals the plugin reaches into, pinned.

Each reach is in one place (the box head's ``loss_and_target`` and its
capture of ``fc_cls``'s input, the optimizer hook of
mmdet_causal/models/utils/embed_sync.py, the sweep's block at the top of
mmdet_causal/apis/debias_sweep.py, FastLVISMetric's lvis_api_for_mmdet, the
config scope in mmdet_causal/stack.py, the figures' capture of the last box
head's scores in mmdet_causal/visualization/detections.py, the sweep loop's
shared ground truth, the dataset checks, the checkpoint loader, lvis_compat
and Grad-CAM's layer), written against mmdet 3.3.0 / mmengine 0.10.7 and
checked on both stacks (onedl-mmdetection 3.5.1 / onedl-mmengine 0.10.12).
If a new version changes one of these signatures this test fails and names
it, before a silently wrong result can."""
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

    def test_sweep_and_loop_reaches(self):
        """The rest of what the sweep, its loop and the metric rely on."""
        from mmdet.evaluation.metrics import CocoMetric, LVISMetric
        from mmdet.models.roi_heads.mask_heads import FusedSemanticHead

        # the loop shares loaded ground truth between evaluators
        self.assertIn('self._lvis_api = LVIS(',
                      inspect.getsource(LVISMetric.__init__))
        self.assertIn('self._coco_api = COCO(',
                      inspect.getsource(CocoMetric.__init__))
        # the sweep pastes picked class channels with class_agnostic on,
        # and replicates the box rescaling that pasting does
        self.assertIn('self.class_agnostic = class_agnostic',
                      inspect.getsource(FCNMaskHead.__init__))
        paste = inspect.getsource(FCNMaskHead._predict_by_feat_single)
        self.assertIn("bboxes.new_tensor(img_meta['scale_factor']).repeat(",
                      paste)
        self.assertIn('bboxes /= scale_factor', paste)
        # one sample per image as add_pred_to_datasample leaves it (its box
        # type conversion has nothing to do on predict_by_feat's tensors)
        from mmdet.models.detectors import BaseDetector
        add = inspect.getsource(BaseDetector.add_pred_to_datasample)
        self.assertIn('data_sample.pred_instances = pred_instances', add)
        self.assertIn('samplelist_boxtype2tensor(data_samples)', add)
        # HTC's semantic feature is the second output of its semantic head
        self.assertIn('return mask_preds, x',
                      inspect.getsource(FusedSemanticHead.forward))
        self.assertIn('_, semantic_feat = self.semantic_head(x)',
                      inspect.getsource(HybridTaskCascadeRoIHead.predict))

    def test_head_dataset_and_checkpoint_reaches(self):
        import lvis.eval
        import numpy as np
        from mmdet.models.necks import FPN
        from mmengine.dataset import BaseDataset
        from mmengine.runner import CheckpointLoader

        from mmdet_causal.datasets.dataset_checks import EMPTY_DATASET_MESSAGE

        # the causal head drops the parent's fc_cls initialisation by value
        self.assertIn("override=dict(name='fc_cls')",
                      inspect.getsource(BBoxHead.__init__))
        # mmengine's words for a dataset left empty are numpy's
        self.assertIn('np.concatenate(',
                      inspect.getsource(BaseDataset._serialize_data))
        with self.assertRaisesRegex(ValueError, EMPTY_DATASET_MESSAGE):
            np.concatenate([])
        # trust_local_checkpoints registers a loader for local paths
        self.check(CheckpointLoader.register_scheme,
                   ('prefixes', 'loader', 'force'))
        # trusted_local_checkpoints reads the one of local paths, to put it
        # back: a dict by prefix, mmengine's own under ''
        from mmengine.runner.checkpoint import load_from_local
        self.assertIn('', CheckpointLoader._schemes)
        self.assertTrue(callable(CheckpointLoader._schemes['']))
        self.assertIn('load_from_local', repr(load_from_local))
        # lvis_compat swaps the numpy lvis.eval sees
        self.assertTrue(hasattr(lvis.eval, 'np'))
        # Grad-CAM's layer='auto' names an FPN output conv
        self.assertIn('self.fpn_convs = nn.ModuleList()',
                      inspect.getsource(FPN.__init__))

    def test_config_scope(self):
        from mmengine.config import utils
        self.assertIsInstance(utils.MODULE2PACKAGE, dict)
        self.assertEqual(
            utils.MODULE2PACKAGE.get('mmdet_causal'), 'mmdet-causal')


if __name__ == '__main__':
    unittest.main()
