# Copyright (c) mmdet-causal contributors. All rights reserved.
"""One pass, many strengths: the sweep's detections are exactly those of
``model.predict`` with the head's alpha set and/or NorCal applied
(``norcal_calibration``), for every strength."""
import copy
import os
import os.path as osp
import unittest
import unittest.mock

import torch
from mmdet.models.roi_heads import (CascadeRoIHead, GridRoIHead,
                                    MaskScoringRoIHead, PointRendRoIHead,
                                    SCNetRoIHead, SparseRoIHead,
                                    TridentRoIHead)
from mmdet.models.roi_heads.bbox_heads import BBoxHead
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.config import Config

import mmdet_causal  # noqa: F401
from mmdet_causal import CausalConvFCBBoxHead, CausalHybridTaskCascadeRoIHead
from mmdet_causal.apis import DebiasSweeper, strength_grid
from mmdet_causal.models.utils import (norcal_calibration, norcal_log_counts,
                                       norcal_scores)
from mmdet_causal.utils import causal_bbox_heads

CONFIGS = osp.join(osp.dirname(__file__), '..', '..', 'configs')
ALPHAS = [0.0, 1.5, 3.0]
#: the GPU check runs these on the GPU (MMDET_CAUSAL_TEST_DEVICE=cuda),
#: where the mask head sees another batch of RoIs than on the CPU
DEVICE = os.environ.get('MMDET_CAUSAL_TEST_DEVICE', 'cpu')


def build(rel, small=False, **test_cfg):
    """The config's model; ``small``: ResNet-18, 16 classes and 300
    proposals, the same RoI head (a CPU test needs only its code path)."""
    register_all_modules()
    cfg = Config.fromfile(osp.join(CONFIGS, rel))
    cfg.model.backbone.init_cfg = None  # no download
    if small:
        cfg.model.backbone.depth = 18
        cfg.model.neck.in_channels = [64, 128, 256, 512]
        bbox_heads = cfg.model.roi_head.bbox_head
        if isinstance(bbox_heads, dict):
            bbox_heads = [bbox_heads]
        for head in bbox_heads + [cfg.model.roi_head.mask_head]:
            head.num_classes = 16
        cfg.model.test_cfg.rpn.update(nms_pre=300, max_per_img=300)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    for head in causal_bbox_heads(model):
        head.causal_embed.uniform_(0, 1)  # a trained-looking average
    for head in model.modules():
        # stock heads: trained-looking logits (their init scores every
        # class alike)
        if isinstance(head,
                      BBoxHead) and not isinstance(head, CausalConvFCBBoxHead):
            torch.nn.init.normal_(head.fc_cls.weight, std=0.5)
    model.roi_head.test_cfg.update(test_cfg)
    return model.to(DEVICE).eval()


def batch():
    return demo_mm_inputs(
        batch_size=2,
        image_shapes=[(3, 96, 128), (3, 128, 96)],
        num_classes=16)


def alpha_sweeper(model, alphas, **kwargs):
    return DebiasSweeper(model, strength_grid(alphas=alphas), **kwargs)


def by_alpha(swept):
    return {s.alpha: samples for s, samples in swept.items()}


class TestAlphaSweep(unittest.TestCase):

    def check_equal_to_predict(self, model, require_detections=True):
        data = batch()
        swept = by_alpha(
            alpha_sweeper(model, ALPHAS).predict(copy.deepcopy(data)))
        # bbox-only sweeps skip the mask head but keep the same boxes
        boxes_only = by_alpha(
            alpha_sweeper(model, ALPHAS,
                          with_masks=False).predict(copy.deepcopy(data)))
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
        # the RoI head of the LVIS config at 16 classes (1203 classes of
        # class-specific deltas and masks took minutes, for the same path)
        model = build(
            'mask_rcnn/mask-rcnn-causal_r50_fpn_1x_lvis-v1.py',
            small=True,
            max_per_img=30)
        self.assertFalse(model.roi_head.bbox_head.reg_class_agnostic)
        self.check_equal_to_predict(model)

    def test_cascade_equals_predict(self):
        model = build(
            'cascade_rcnn/cascade-mask-rcnn-causal_r101_fpn_20e_lvis-v1.py',
            small=True,
            max_per_img=30)
        # mmdet's own RoI head
        self.assertIs(type(model.roi_head), CascadeRoIHead)
        self.assertTrue(
            all(h.reg_class_agnostic for h in model.roi_head.bbox_head))
        self.check_equal_to_predict(model)

    def test_refuses_roi_heads_it_does_not_reproduce(self):
        """Exactly the tested RoI heads: subclasses that change the predict
        path (mask rescoring, point rendering, ...) are refused by name."""
        model = build('tiny/htc-causal_r18_fpn_tiny-lvis.py')
        alpha_sweeper(model, ALPHAS)  # the real type is accepted

        class MyRoIHead(CausalHybridTaskCascadeRoIHead):
            pass

        original = type(model.roi_head)
        for cls in (MaskScoringRoIHead, PointRendRoIHead, GridRoIHead,
                    SCNetRoIHead, SparseRoIHead, TridentRoIHead, MyRoIHead):
            model.roi_head.__class__ = cls
            try:
                with self.assertRaisesRegex(ValueError, cls.__name__):
                    alpha_sweeper(model, ALPHAS)
            finally:
                model.roi_head.__class__ = original

    def test_alphas_must_be_finite(self):
        model = build('tiny/htc-causal_r18_fpn_tiny-lvis.py')
        for bad in (float('inf'), float('nan')):
            with self.assertRaisesRegex(ValueError, 'finite'):
                alpha_sweeper(model, [0.0, bad])

    def test_refuses_what_it_cannot_reproduce(self):
        model = build('tiny/htc-causal_r18_fpn_tiny-lvis.py')
        model.roi_head.bbox_head[0].reg_class_agnostic = False
        with self.assertRaisesRegex(ValueError, 'class-specific'):
            alpha_sweeper(model, ALPHAS)
        stock = build('tiny/htc_r18_fpn_tiny-lvis.py')
        with self.assertRaisesRegex(ValueError, 'causal'):
            alpha_sweeper(stock, ALPHAS)
        with self.assertRaisesRegex(ValueError, 'non-negative'):
            alpha_sweeper(
                build('tiny/htc-causal_r18_fpn_tiny-lvis.py'), [-1.0])


# ----------------------------------------------------------------------
# NorCal
# ----------------------------------------------------------------------
COUNTS = [1000, 400, 150, 60, 30, 12, 8, 5, 3, 2, 1, 1, 700, 90, 20, 4]
GAMMAS = [0.0, 0.5, 1.0]


def norcal_reference(logits: torch.Tensor, counts, gamma) -> torch.Tensor:
    """Pan et al. 2021, Eq. 4-5, on probabilities in float64: divide each
    foreground probability by N_c ** gamma, keep the background one,
    renormalise."""
    p = torch.softmax(logits.double(), dim=1)
    scale = torch.ones(p.shape[1], dtype=torch.float64)
    scale[:-1] = torch.tensor(counts, dtype=torch.float64)**gamma
    q = p / scale
    return q / q.sum(dim=1, keepdim=True)


class TestNorCalScores(unittest.TestCase):

    def test_equals_the_papers_formula(self):
        torch.manual_seed(0)
        logits = torch.randn(50, 17) * 4
        log_counts = norcal_log_counts(COUNTS)
        for gamma in (0.3, 1.0, 2.5):
            got = torch.softmax(
                norcal_scores(logits, log_counts, gamma).double(), dim=1)
            torch.testing.assert_close(
                got,
                norcal_reference(logits, COUNTS, gamma),
                atol=1e-6,
                rtol=1e-5)
        # and the background odds against each class move by N_c ** gamma
        z = norcal_scores(logits, log_counts, 1.0)
        self.assertTrue(torch.equal(z[:, -1], logits[:, -1]))

    def test_gamma_zero_is_the_identity(self):
        logits = torch.randn(20, 17)
        self.assertTrue(
            torch.equal(
                norcal_scores(logits, norcal_log_counts(COUNTS), 0.0), logits))

    def test_half_precision_keeps_its_dtype(self):
        logits = (torch.randn(20, 17) * 3).half()
        z = norcal_scores(logits, norcal_log_counts(COUNTS), 0.7)
        self.assertEqual(z.dtype, torch.float16)
        torch.testing.assert_close(
            torch.softmax(z.double(), 1),
            norcal_reference(logits.float(), COUNTS, 0.7),
            atol=5e-3,
            rtol=0)

    def test_errors(self):
        log_counts = norcal_log_counts(COUNTS)
        with self.assertRaisesRegex(ValueError, 'counts for 16 classes'):
            norcal_scores(torch.randn(3, 11), log_counts, 1.0)
        for bad in (-0.1, float('inf'), float('nan')):
            with self.assertRaisesRegex(ValueError, 'finite, non-negative'):
                strength_grid(gammas=[bad])
        with self.assertRaisesRegex(ValueError, '>= 0'):
            norcal_log_counts([3, -1])
        # a class never seen in training is left as it is, not infinite
        self.assertEqual(norcal_log_counts([5, 0])[1].item(), 0.0)


class TestNorCalSweep(unittest.TestCase):
    """NorCal through the sweep equals predict under
    ``norcal_calibration``, on stock and causal models."""

    def check(self, model, alphas=None, gammas=GAMMAS):
        data = batch()
        log_counts = norcal_log_counts(COUNTS)
        settings = strength_grid(alphas, gammas)
        swept = DebiasSweeper(model, settings,
                              log_counts).predict(copy.deepcopy(data))
        with torch.no_grad():
            plain = model.test_step(copy.deepcopy(data))
        for setting in settings:
            if setting.alpha is not None:
                for head in causal_bbox_heads(model):
                    head.alpha = setting.alpha
            with norcal_calibration(model, log_counts, setting.gamma), \
                    torch.no_grad():
                expected = model.test_step(copy.deepcopy(data))
            for got, ref in zip(swept[setting], expected):
                # the input's ground truth stays on the sample, as predict
                # leaves it
                torch.testing.assert_close(got.gt_instances.bboxes,
                                           ref.gt_instances.bboxes)
                got, ref = got.pred_instances, ref.pred_instances
                self.assertGreater(len(ref), 0)
                for key in ('bboxes', 'scores', 'labels', 'masks'):
                    self.assertTrue(
                        torch.equal(got[key], ref[key]), f'{setting} {key}')
            if setting.gamma == 0 and setting.alpha is None:
                # gamma 0 is the plain model, bit for bit
                for got, ref in zip(expected, plain):
                    for key in ('bboxes', 'scores', 'labels', 'masks'):
                        self.assertTrue(
                            torch.equal(got.pred_instances[key],
                                        ref.pred_instances[key]), key)
        # NorCal changes the detections (not a vacuous test)
        first, last = settings[0], settings[-1]
        self.assertFalse(
            torch.equal(swept[first][0].pred_instances.scores,
                        swept[last][0].pred_instances.scores))

    def test_stock_htc(self):
        self.check(build('tiny/htc_r18_fpn_tiny-lvis.py', max_per_img=100))

    def test_stock_mask_rcnn_class_specific_boxes(self):
        model = build(
            'mask_rcnn/mask-rcnn_r50_fpn_1x_lvis-v1.py',
            small=True,
            max_per_img=30)
        self.assertFalse(model.roi_head.bbox_head.reg_class_agnostic)
        self.check(model)

    def test_causal_htc_with_tde(self):
        """NorCal composes with TDE: every (alpha, gamma) pair."""
        self.check(
            build('tiny/htc-causal_r18_fpn_tiny-lvis.py', max_per_img=100),
            alphas=[0.0, 1.5])

    def test_cascade_stage_average_stays_exact(self):
        """The scores NorCal calibrates are the stages' average, shifted by
        gamma * log N_c: equal to a float64 reference that shifts every
        stage's logits and then averages."""
        model = build(
            'cascade_rcnn/cascade-mask-rcnn_r101_fpn_20e_lvis-v1.py',
            small=True,
            max_per_img=30)
        self.check(model)
        stages = []
        hooks = [
            h.register_forward_hook(lambda m, a, out: stages.append(out[0]))
            for h in model.roi_head.bbox_head
        ]
        head = model.roi_head.bbox_head[-1]
        calls = []
        original = type(head).predict_by_feat

        def spy(self, rois, cls_scores, *args, **kwargs):
            calls.append(cls_scores)
            return original(self, rois, cls_scores, *args, **kwargs)

        log_counts = norcal_log_counts(COUNTS)
        data = batch()
        with unittest.mock.patch.object(type(head), 'predict_by_feat', spy), \
                norcal_calibration(model, log_counts, 0.8), torch.no_grad():
            model.test_step(copy.deepcopy(data))
        for hook in hooks:
            hook.remove()
        self.assertEqual(len(stages), 3)
        shift = torch.zeros(17, dtype=torch.float64)
        shift[:-1] = 0.8 * torch.tensor(COUNTS, dtype=torch.float64).log()
        reference = sum(s.double() - shift for s in stages) / 3
        got = torch.cat(calls[0]).double()
        torch.testing.assert_close(got, reference, atol=1e-5, rtol=1e-6)

    def test_refuses_heads_without_a_softmax(self):
        model = build('tiny/htc_r18_fpn_tiny-lvis.py')
        head = model.roi_head.bbox_head[-1]
        head.loss_cls.use_sigmoid = True
        with self.assertRaisesRegex(ValueError, 'softmax'):
            DebiasSweeper(model, strength_grid(gammas=[1.0]),
                          norcal_log_counts(COUNTS))
        with self.assertRaisesRegex(ValueError, 'softmax'):
            with norcal_calibration(model, norcal_log_counts(COUNTS), 1.0):
                pass
        head.loss_cls.use_sigmoid = False
        with self.assertRaisesRegex(ValueError, 'class counts'):
            DebiasSweeper(model, strength_grid(gammas=[1.0]))
        with self.assertRaisesRegex(ValueError, 'causal'):
            DebiasSweeper(model, strength_grid(alphas=[1.0]))

    def test_calibration_context_restores_the_head(self):
        model = build('tiny/htc_r18_fpn_tiny-lvis.py')
        head = model.roi_head.bbox_head[-1]
        with self.assertRaises(RuntimeError):
            with norcal_calibration(model, norcal_log_counts(COUNTS), 1.0):
                self.assertIn('predict_by_feat', vars(head))
                raise RuntimeError('inside')
        self.assertNotIn('predict_by_feat', vars(head))


if __name__ == '__main__':
    unittest.main()
