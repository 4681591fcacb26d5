# Copyright (c) mmdet-causal contributors. All rights reserved.
"""One pass, many alphas: the sweep's detections are exactly those of
``model.predict`` with the head's alpha set, for every alpha."""
import copy
import os.path as osp
import unittest

import torch
from mmdet.models.roi_heads import (GridRoIHead, MaskScoringRoIHead,
                                    PointRendRoIHead, SCNetRoIHead,
                                    SparseRoIHead, TridentRoIHead)
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.config import Config

import mmdet_causal  # noqa: F401
from mmdet_causal import CausalCascadeRoIHead, CausalHybridTaskCascadeRoIHead
from mmdet_causal.apis import AlphaSweeper
from mmdet_causal.utils import causal_bbox_heads

CONFIGS = osp.join(osp.dirname(__file__), '..', '..', 'configs')
ALPHAS = [0.0, 1.5, 3.0]


def build(rel, small=False, **test_cfg):
    """The config's model; ``small``: ResNet-18, 16 classes and 300
    proposals, the same RoI head (a CPU test needs only its code path)."""
    register_all_modules()
    cfg = Config.fromfile(osp.join(CONFIGS, rel))
    cfg.model.backbone.init_cfg = None  # no download
    if small:
        cfg.model.backbone.depth = 18
        cfg.model.neck.in_channels = [64, 128, 256, 512]
        for head in (cfg.model.roi_head.bbox_head +
                     [cfg.model.roi_head.mask_head]):
            head.num_classes = 16
        cfg.model.test_cfg.rpn.update(nms_pre=300, max_per_img=300)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    for head in causal_bbox_heads(model):
        head.causal_embed.uniform_(0, 1)  # a trained-looking average
    model.roi_head.test_cfg.update(test_cfg)
    return model.eval()


def batch():
    return demo_mm_inputs(
        batch_size=2,
        image_shapes=[(3, 96, 128), (3, 128, 96)],
        num_classes=16)


class TestAlphaSweeper(unittest.TestCase):

    def check_equal_to_predict(self, model, require_detections=True):
        data = batch()
        sweeper = AlphaSweeper(model, ALPHAS)
        swept = sweeper.predict(copy.deepcopy(data))
        # bbox-only sweeps skip the mask head but keep the same boxes
        boxes_only = AlphaSweeper(
            model, ALPHAS, with_masks=False).predict(copy.deepcopy(data))
        for alpha in ALPHAS:
            for head in causal_bbox_heads(model):
                head.alpha = alpha
            with torch.no_grad():
                expected = model.test_step(copy.deepcopy(data))
            for got, ref in zip(swept[alpha], expected):
                got, ref = got.pred_instances, ref.pred_instances
                if require_detections:
                    self.assertGreater(len(ref), 0)
                for key in ('bboxes', 'scores', 'labels', 'masks'):
                    self.assertTrue(
                        torch.equal(got[key], ref[key]),
                        f'alpha={alpha} {key}')
            for got, ref in zip(boxes_only[alpha], expected):
                got, ref = got.pred_instances, ref.pred_instances
                self.assertNotIn('masks', got)
                for key in ('bboxes', 'scores', 'labels'):
                    self.assertTrue(
                        torch.equal(got[key], ref[key]),
                        f'boxes only, alpha={alpha} {key}')
        if require_detections:
            # different alphas, different detections (not a vacuous test)
            self.assertFalse(
                torch.equal(swept[0.0][0].pred_instances.scores,
                            swept[3.0][0].pred_instances.scores))
        return swept

    def test_htc_equals_predict(self):
        swept = self.check_equal_to_predict(
            build('tiny/htc-causal_r18_fpn_tiny-lvis.py', max_per_img=100))
        # class-agnostic boxes: boxes kept for several classes, whose masks
        # the sweep computes from one mask-head RoI (the case to get right)
        repeated = sum(
            len(s.pred_instances) -
            len(torch.unique(s.pred_instances.bboxes, dim=0))
            for samples in swept.values() for s in samples)
        self.assertGreater(repeated, 0)

    def test_images_without_detections(self):
        """Some alphas keep nothing on an image that others keep detections
        on, then nothing is kept at all: the empty results (boxes and
        masks of the right shapes) are those of predict too."""
        model = build('tiny/htc-causal_r18_fpn_tiny-lvis.py', max_per_img=50)
        swept = self.check_equal_to_predict(model)
        top = sorted(
            {swept[a][0].pred_instances.scores.max().item()
             for a in ALPHAS})
        self.assertGreater(len(top), 1)
        # above the lowest alpha's best score on image 0, below the others'
        model.roi_head.test_cfg.score_thr = (top[0] + top[1]) / 2
        swept = self.check_equal_to_predict(model, require_detections=False)
        kept = [len(swept[a][0].pred_instances) for a in ALPHAS]
        self.assertIn(0, kept)
        self.assertTrue(any(kept))
        model.roi_head.test_cfg.score_thr = 1.0
        swept = self.check_equal_to_predict(model, require_detections=False)
        self.assertTrue(
            all(len(s.pred_instances) == 0 for a in ALPHAS for s in swept[a]))

    def test_standard_roi_head_class_specific_boxes(self):
        model = build(
            'mask_rcnn/mask-rcnn-causal_r50_fpn_1x_lvis-v1.py', max_per_img=30)
        self.assertFalse(model.roi_head.bbox_head.reg_class_agnostic)
        self.check_equal_to_predict(model)

    def test_cascade_equals_predict(self):
        model = build(
            'cascade_rcnn/cascade-mask-rcnn-causal_r101_fpn_20e_lvis-v1.py',
            small=True,
            max_per_img=30)
        self.assertIs(type(model.roi_head), CausalCascadeRoIHead)
        self.assertTrue(
            all(h.reg_class_agnostic for h in model.roi_head.bbox_head))
        self.check_equal_to_predict(model)

    def test_refuses_roi_heads_it_does_not_reproduce(self):
        """Exactly the tested RoI heads: subclasses that change the predict
        path (mask rescoring, point rendering, ...) are refused by name."""
        model = build('tiny/htc-causal_r18_fpn_tiny-lvis.py')
        AlphaSweeper(model, ALPHAS)  # the real type is accepted

        class MyRoIHead(CausalHybridTaskCascadeRoIHead):
            pass

        original = type(model.roi_head)
        for cls in (MaskScoringRoIHead, PointRendRoIHead, GridRoIHead,
                    SCNetRoIHead, SparseRoIHead, TridentRoIHead, MyRoIHead):
            model.roi_head.__class__ = cls
            try:
                with self.assertRaisesRegex(ValueError, cls.__name__):
                    AlphaSweeper(model, ALPHAS)
            finally:
                model.roi_head.__class__ = original

    def test_alphas_must_be_finite(self):
        model = build('tiny/htc-causal_r18_fpn_tiny-lvis.py')
        for bad in (float('inf'), float('nan')):
            with self.assertRaisesRegex(ValueError, 'finite'):
                AlphaSweeper(model, [0.0, bad])

    def test_refuses_what_it_cannot_reproduce(self):
        model = build('tiny/htc-causal_r18_fpn_tiny-lvis.py')
        model.roi_head.bbox_head[0].reg_class_agnostic = False
        with self.assertRaisesRegex(ValueError, 'class-specific'):
            AlphaSweeper(model, ALPHAS)
        stock = build('tiny/htc_r18_fpn_tiny-lvis.py')
        with self.assertRaisesRegex(ValueError, 'causal'):
            AlphaSweeper(stock, ALPHAS)
        with self.assertRaisesRegex(ValueError, 'non-negative'):
            AlphaSweeper(build('tiny/htc-causal_r18_fpn_tiny-lvis.py'), [-1.0])


if __name__ == '__main__':
    unittest.main()
