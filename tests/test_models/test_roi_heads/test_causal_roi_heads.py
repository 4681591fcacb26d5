# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The label-passing RoI heads, built from this project's configs at a tiny
width, on mmdet.testing's fake inputs and mmcv's CPU RoIAlign."""
import copy
import os.path as osp
import unittest

import mmdet
import torch
import torch.nn.functional as F
from causal_reference import ref_probs
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2roi
from mmdet.testing import demo_mm_inputs, demo_mm_proposals
from mmdet.utils import register_all_modules
from mmengine.config import Config, ConfigDict

from mmdet_causal import CausalConvFCBBoxHead

CONFIGS = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs')
MMDET_HTC_SEMANTIC = osp.join(
    osp.dirname(mmdet.__file__), '.mim', 'configs', 'htc',
    'htc_r50_fpn_1x_coco.py')
NUM_CLASSES = 5
WIDTH = 16
IMG = 128


def shrink(node, width=WIDTH, num_classes=NUM_CLASSES):
    """Every channel count to ``width`` and every class count to
    ``num_classes``, in place, throughout a (nested) RoI-head config."""
    if isinstance(node, dict):
        for key in ('in_channels', 'out_channels', 'conv_out_channels',
                    'feat_channels'):
            if isinstance(node.get(key), int):
                node[key] = width
        if isinstance(node.get('fc_out_channels'), int):
            node['fc_out_channels'] = 2 * width
        if isinstance(node.get('num_classes'), int):
            node['num_classes'] = num_classes
        for value in node.values():
            shrink(value, width, num_classes)
    elif isinstance(node, list):
        for value in node:
            shrink(value, width, num_classes)
    return node


def roi_head_cfg(config: str, semantic: bool = False) -> ConfigDict:
    cfg = Config.fromfile(osp.join(CONFIGS, config))
    roi_head = copy.deepcopy(cfg.model.roi_head)
    rcnn_train = cfg.model.train_cfg.rcnn
    # fewer sampled RoIs: the CPU test only needs the code paths
    for stage in (rcnn_train
                  if isinstance(rcnn_train, list) else [rcnn_train]):
        stage.sampler.num = 64
    roi_head.update(train_cfg=rcnn_train, test_cfg=cfg.model.test_cfg.rcnn)
    if semantic:
        htc = Config.fromfile(MMDET_HTC_SEMANTIC).model.roi_head
        roi_head.update(
            semantic_roi_extractor=htc.semantic_roi_extractor,
            semantic_head=htc.semantic_head)
    return shrink(roi_head)


def features(batch=1):
    return tuple(
        torch.rand(batch, WIDTH, IMG // 2**(i + 2), IMG // 2**(i + 2))
        for i in range(5))


class LabelSpy:
    """Records whether each box-head forward received labels."""

    def __init__(self, roi_head):
        heads = roi_head.bbox_head
        self.calls = {
            id(h): []
            for h in (
                heads if isinstance(heads, torch.nn.ModuleList) else [heads])
        }
        for head in (heads
                     if isinstance(heads, torch.nn.ModuleList) else [heads]):
            head.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        labels = kwargs.get('labels', args[1] if len(args) > 1 else None)
        self.calls[id(module)].append(labels)

    def all_calls(self):
        return [c for calls in self.calls.values() for c in calls]


class CausalRoIHeadCase:
    """Shared checks; subclasses name a config."""
    config = None
    semantic = False

    @classmethod
    def setUpClass(cls):
        register_all_modules()

    def build(self, **overrides):
        cfg = roi_head_cfg(self.config, self.semantic)
        cfg.update(overrides)
        torch.manual_seed(0)
        roi_head = MODELS.build(cfg)
        roi_head.init_weights()
        return roi_head

    def bbox_heads(self, roi_head):
        heads = roi_head.bbox_head
        return list(heads) if isinstance(heads,
                                         torch.nn.ModuleList) else [heads]

    def inputs(self, num_items):
        data = demo_mm_inputs(
            batch_size=1,
            image_shapes=[(3, IMG, IMG)],
            num_items=num_items,
            num_classes=NUM_CLASSES,
            with_mask=True,
            with_semantic=self.semantic)
        return [s for s in data['data_samples']]

    def _loss(self, roi_head, num_items):
        samples = self.inputs(num_items)
        proposals = demo_mm_proposals([(3, IMG, IMG)], 100)
        return roi_head.loss(features(), proposals, samples)

    def test_loss_with_ground_truth_passes_labels(self):
        roi_head = self.build()
        spy = LabelSpy(roi_head)
        roi_head.train()
        losses = self._loss(roi_head, [3])
        cls_losses = [v for k, v in losses.items() if 'loss_cls' in k]
        self.assertTrue(cls_losses)
        for name, value in losses.items():
            if 'loss' in name:
                value = sum(value) if isinstance(value, list) else value
                self.assertTrue(torch.isfinite(value).all(), name)
                self.assertGreater(value.item(), 0, name)
        calls = spy.all_calls()
        self.assertTrue(calls)
        self.assertTrue(all(c is not None for c in calls))
        for head in self.bbox_heads(roi_head):
            if isinstance(head, CausalConvFCBBoxHead):
                # foreground RoIs exist (gts are added as proposals), so
                # every stage's moving average moved
                self.assertGreater(head.causal_embed.abs().sum().item(), 0)
        # gradients reach the cosine classifier of every stage
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        for head in self.bbox_heads(roi_head):
            self.assertIsNotNone(head.fc_cls.weight.grad)

    def test_loss_without_ground_truth(self):
        roi_head = self.build()
        roi_head.train()
        losses = self._loss(roi_head, [0])
        for name, value in losses.items():
            if 'loss_cls' in name:
                self.assertTrue(torch.isfinite(value).all(), name)
                self.assertGreater(value.item(), 0, name)
            if 'loss_bbox' in name or 'loss_mask' in name:
                self.assertEqual(value.sum().item(), 0, name)
        for head in self.bbox_heads(roi_head):
            # only background RoIs: the average must not move (nor be NaN)
            self.assertTrue(
                torch.equal(head.causal_embed,
                            torch.zeros_like(head.causal_embed)))

    def test_predict_passes_no_labels(self):
        roi_head = self.build()
        roi_head.train()
        self._loss(roi_head, [3])
        spy = LabelSpy(roi_head)
        roi_head.eval()
        samples = self.inputs([3])
        proposals = demo_mm_proposals([(3, IMG, IMG)], 100)
        with torch.no_grad():
            results = roi_head.predict(
                features(), proposals, samples, rescale=True)
        self.assertEqual(len(results), 1)
        res = results[0]
        self.assertGreater(len(res), 0)
        self.assertTrue(((res.scores >= 0) & (res.scores <= 1)).all())
        self.assertTrue((res.labels < NUM_CLASSES).all())
        self.assertEqual(res.masks.shape[0], len(res))
        self.assertTrue(all(c is None for c in spy.all_calls()))
        stats = [h.cos_stats() for h in self.bbox_heads(roi_head)]
        self.assertTrue(all(s['num_rois'] > 0 for s in stats))

    def test_predict_without_proposals(self):
        roi_head = self.build().eval()
        samples = self.inputs([3])
        proposals = demo_mm_proposals([(3, IMG, IMG)], 0)
        with torch.no_grad():
            results = roi_head.predict(
                features(), proposals, samples, rescale=True)
        self.assertEqual(len(results[0]), 0)

    def test_stock_box_heads_still_work(self):
        cfg = roi_head_cfg(self.config, self.semantic)
        heads = cfg.bbox_head if isinstance(cfg.bbox_head,
                                            list) else [cfg.bbox_head]
        for head in heads:
            head.type = head.type.replace('Causal', '')
            for key in ('num_heads', 'scale', 'gamma', 'momentum', 'alpha',
                        'use_tde', 'background_exempt', 'sync_embed'):
                head.pop(key, None)
        torch.manual_seed(0)
        roi_head = MODELS.build(cfg)
        roi_head.init_weights()
        roi_head.train()
        losses = self._loss(roi_head, [3])
        self.assertTrue(
            all(
                torch.isfinite(v).all() for k, v in losses.items()
                if 'loss' in k and isinstance(v, torch.Tensor)))
        roi_head.eval()
        with torch.no_grad():
            results = roi_head.predict(features(),
                                       demo_mm_proposals([(3, IMG, IMG)], 50),
                                       self.inputs([3]))
        self.assertGreater(len(results[0]), 0)


class TestCausalStandardRoIHead(CausalRoIHeadCase, unittest.TestCase):
    config = 'mask_rcnn/mask-rcnn-causal_r50_fpn_1x_lvis-v1.py'

    def test_final_scores_are_tde_probabilities(self):
        """mmdet's softmax over the head's cls_score gives P: no double
        softmax."""
        roi_head = self.build(test_cfg=None)
        roi_head.train()
        self._loss(roi_head, [3])
        roi_head.eval()
        head = roi_head.bbox_head
        head.alpha = 2.0
        x = features()
        rois = bbox2roi([demo_mm_proposals([(3, IMG, IMG)], 20)[0].bboxes])
        with torch.no_grad():
            bbox_feats = roi_head.bbox_roi_extractor(x[:4], rois)
            x_cls = head._forward_features(bbox_feats)[0]
            out = roi_head._bbox_forward(x, rois)
            results = head.predict_by_feat(
                rois=(rois, ),
                cls_scores=(out['cls_score'], ),
                bbox_preds=(out['bbox_pred'], ),
                batch_img_metas=[dict(img_shape=(IMG, IMG))],
                rcnn_test_cfg=None)
        expected = ref_probs(x_cls.double(), head.fc_cls.weight.double(),
                             head.causal_embed.double(), 2, 16.0, 1 / 32, 1e-9,
                             2.0, True)
        torch.testing.assert_close(
            results[0].scores.double(), expected, rtol=1e-5, atol=1e-6)


class TestCausalCascadeRoIHead(CausalRoIHeadCase, unittest.TestCase):
    config = 'cascade_rcnn/cascade-mask-rcnn-causal_r101_fpn_20e_lvis-v1.py'

    def test_stage_combination_is_geometric_mean_of_p(self):
        """The cascade averages the stages' cls_score (= log P) before
        mmdet's softmax: the normalised geometric mean of the stages' P."""
        roi_head = self.build()
        roi_head.train()
        self._loss(roi_head, [3])
        roi_head.eval()
        x = features()
        proposals = demo_mm_proposals([(3, IMG, IMG)], 20)
        rois = bbox2roi([proposals[0].bboxes])
        meta = [dict(img_shape=(IMG, IMG))]
        with torch.no_grad():
            _, cls_scores, _ = roi_head._refine_roi(x, rois, meta, [20])
            # each stage's P, from the reference, on that stage's RoIs
            log_p, stage_rois = [], rois
            for stage, head in enumerate(roi_head.bbox_head):
                feats = roi_head.bbox_roi_extractor[stage](x[:4], stage_rois)
                x_cls = head._forward_features(feats)[0]
                p = ref_probs(x_cls.double(), head.fc_cls.weight.double(),
                              head.causal_embed.double(), 2, 16.0, 1 / 32,
                              1e-9, 1.5, True)
                log_p.append(p.log())
                cls_score, bbox_pred = head(feats)
                label = cls_score[:, :-1].argmax(1)
                stage_rois = torch.cat([
                    stage_rois[:, :1],
                    head.regress_by_class(stage_rois[:, 1:], label, bbox_pred,
                                          meta[0])
                ], 1)
        expected = F.softmax(torch.stack(log_p).mean(0), dim=1)
        torch.testing.assert_close(
            F.softmax(cls_scores[0].double(), dim=1),
            expected,
            rtol=1e-5,
            atol=1e-6)


class TestCausalHTCRoIHead(CausalRoIHeadCase, unittest.TestCase):
    config = 'htc/htc-causal_r50_fpn_1x_lvis-v1.py'


class TestCausalHTCRoIHeadWithSemantic(CausalRoIHeadCase, unittest.TestCase):
    config = 'htc/htc-causal_r50_fpn_1x_lvis-v1.py'
    semantic = True


if __name__ == '__main__':
    unittest.main()
