# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The label-passing RoI heads, built from this project's configs at a tiny
width, on mmdet.testing's fake inputs and mmcv's CPU RoIAlign."""
import copy
import datetime
import hashlib
import os.path as osp
import tempfile
import unittest

import mmdet
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from causal_reference import cls_feature, ref_probs
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2roi
from mmdet.testing import demo_mm_inputs, demo_mm_proposals
from mmdet.utils import register_all_modules
from mmengine.config import Config, ConfigDict

from mmdet_causal.utils import TDEProbe

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


#: name -> (config, mmdet's own RoI head its Causal* RoI head extends)
REFERENCE_CONFIGS = {
    'standard':
    ('mask_rcnn/mask-rcnn-causal_r50_fpn_1x_lvis-v1.py', 'StandardRoIHead'),
    'cascade':
    ('cascade_rcnn/cascade-mask-rcnn-causal_r101_fpn_20e_lvis-v1.py',
     'CascadeRoIHead'),
    'htc':
    ('htc/htc-causal_r50_fpn_1x_lvis-v1.py', 'HybridTaskCascadeRoIHead'),
}
REFERENCE = osp.join(
    osp.dirname(__file__), '..', '..', 'data', 'roi_head_reference.pth')


def reference_run(config, roi_head_type=None, steps=3):
    """Three SGD steps of a tiny RoI head on fixed inputs (two images, one
    without much ground truth), then one ``predict``: the losses and every
    stage's moving average after each step, and the detections.
    ``tests/data/make_roi_head_reference.py`` stored this from the
    label-passing RoI heads; the tests run it again on today's code."""
    register_all_modules()
    cfg = roi_head_cfg(config)
    if roi_head_type is not None:
        cfg.type = roi_head_type
    torch.manual_seed(0)
    roi_head = MODELS.build(cfg)
    roi_head.init_weights()
    roi_head.train()
    heads = roi_head.bbox_head
    heads = list(heads) if isinstance(heads, torch.nn.ModuleList) else [heads]
    optimizer = torch.optim.SGD(roi_head.parameters(), lr=0.02, momentum=0.9)
    shapes = [(3, IMG, IMG)] * 2
    record = dict(losses=[], embeds=[])
    for step in range(steps):
        torch.manual_seed(10 + step)
        x = features(2)
        samples = demo_mm_inputs(
            batch_size=2,
            image_shapes=shapes,
            num_items=[3, 1],
            num_classes=NUM_CLASSES,
            with_mask=True)['data_samples']
        losses = roi_head.loss(x, demo_mm_proposals(shapes, 100), samples)
        losses = {
            k: torch.stack(v) if isinstance(v, list) else v
            for k, v in losses.items()
        }
        total = sum(v.sum() for k, v in losses.items() if 'loss' in k)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        record['losses'].append({
            k: v.detach().clone()
            for k, v in losses.items()
        })
        record['embeds'].append([h.causal_embed.clone() for h in heads])
    roi_head.eval()
    torch.manual_seed(20)
    x = features(1)
    samples = demo_mm_inputs(
        batch_size=1,
        image_shapes=shapes[:1],
        num_items=[3],
        num_classes=NUM_CLASSES,
        with_mask=True)['data_samples']
    with torch.no_grad():
        res = roi_head.predict(
            x, demo_mm_proposals(shapes[:1], 100), samples, rescale=True)[0]
    record['predictions'] = {
        k: res[k].clone()
        for k in ('bboxes', 'scores', 'labels')
    }
    # the masks as their bits' digest (a stored reference stays small)
    record['predictions']['masks_sha256'] = hashlib.sha256(
        res.masks.cpu().numpy().tobytes()).hexdigest()
    return record


def optimizer_step(roi_head):
    """What moves the causal heads' averages: an optimizer step over the
    RoI head's parameters (lr 0: the weights stay)."""
    torch.optim.SGD(roi_head.parameters(), lr=0.0).step()


class UpdateSpy:
    """Records, per box head, the labels and features that every
    ``loss_and_target`` collects for the moving average, the bbox_targets it
    returns, the average before, and every forward's input."""

    def __init__(self, roi_head):
        heads = roi_head.bbox_head
        self.heads = list(heads) if isinstance(
            heads, torch.nn.ModuleList) else [heads]
        self.updates = {id(h): [] for h in self.heads}
        self.targets = {id(h): [] for h in self.heads}
        self.inputs = {id(h): [] for h in self.heads}
        for head in self.heads:
            head.register_forward_pre_hook(self._record_input)
            if hasattr(head, 'accumulate_embed'):
                head.accumulate_embed = self._wrap_accumulate(head)
            head.loss_and_target = self._wrap_loss(head)

    def _record_input(self, module, args):
        self.inputs[id(module)].append(args[0].detach().clone())

    def _wrap_accumulate(self, head):
        original = head.accumulate_embed

        def accumulate_embed(cls_score, labels):
            self.updates[id(head)].append((labels, head._train_feature.clone(),
                                           head.causal_embed.clone()))
            return original(cls_score, labels)

        return accumulate_embed

    def _wrap_loss(self, head):
        original = head.loss_and_target

        def loss_and_target(*args, **kwargs):
            out = original(*args, **kwargs)
            self.targets[id(head)].append(out['bbox_targets'])
            return out

        return loss_and_target


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
        """One training step's losses; the optimizer step after them moves
        the averages."""
        samples = self.inputs(num_items)
        proposals = demo_mm_proposals([(3, IMG, IMG)], 100)
        losses = roi_head.loss(features(), proposals, samples)
        optimizer_step(roi_head)
        return losses

    def test_loss_with_ground_truth_passes_labels(self):
        roi_head = self.build()
        spy = UpdateSpy(roi_head)
        roi_head.train()
        losses = self._loss(roi_head, [3])
        cls_losses = [v for k, v in losses.items() if 'loss_cls' in k]
        self.assertTrue(cls_losses)
        for name, value in losses.items():
            if 'loss' in name:
                value = sum(value) if isinstance(value, list) else value
                self.assertTrue(torch.isfinite(value).all(), name)
                self.assertGreater(value.item(), 0, name)
        for head in spy.heads:
            # one update per stage, with exactly that stage's targets'
            # labels (the stages have the same number of RoIs, so another
            # stage's labels would fit too)
            (labels, x_cls, before), = spy.updates[id(head)]
            (targets, ) = spy.targets[id(head)]
            self.assertTrue(torch.equal(labels, targets[0]))
            fg = labels < NUM_CLASSES
            self.assertTrue(fg.any() and (~fg).any())
            torch.testing.assert_close(
                head.causal_embed, head.momentum * before + x_cls[fg].mean(0))
            # x is the feature of the RoIs the head classified
            (feats, ) = spy.inputs[id(head)]
            with torch.no_grad():
                torch.testing.assert_close(x_cls, cls_feature(head, feats))
        labels = [spy.updates[id(h)][0][0] for h in spy.heads]
        if len(labels) > 1:  # the stages' labels differ (refined boxes)
            self.assertFalse(
                all(torch.equal(labels[0], other) for other in labels))
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
        spy = UpdateSpy(roi_head)
        embeds = [h.causal_embed.clone() for h in spy.heads]
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
        # the heads ran, and nothing touched their moving averages
        self.assertTrue(all(len(spy.inputs[id(h)]) for h in spy.heads))
        self.assertFalse(any(spy.updates.values()))
        for head, embed in zip(spy.heads, embeds):
            self.assertTrue(torch.equal(head.causal_embed, embed))
        with TDEProbe(self.bbox_heads(roi_head)) as probe, torch.no_grad():
            roi_head.predict(
                features(),
                demo_mm_proposals([(3, IMG, IMG)], 100),
                samples,
                rescale=True)
        self.assertTrue(all(s['num_rois'] > 0 for s in probe.cos_stats()))

    def test_predict_without_proposals(self):
        roi_head = self.build().eval()
        samples = self.inputs([3])
        proposals = demo_mm_proposals([(3, IMG, IMG)], 0)
        with torch.no_grad():
            results = roi_head.predict(
                features(), proposals, samples, rescale=True)
        self.assertEqual(len(results[0]), 0)

    def test_stock_box_heads_still_work(self):
        """The Causal RoI head, an alias of 0.1, is mmdet's parent RoI head:
        with stock box heads the same losses and predictions, bit for
        bit."""
        cfg = roi_head_cfg(self.config, self.semantic)
        cfg.type = 'Causal' + cfg.type
        heads = cfg.bbox_head if isinstance(cfg.bbox_head,
                                            list) else [cfg.bbox_head]
        for head in heads:
            head.type = head.type.replace('Causal', '')
            for key in ('num_heads', 'scale', 'gamma', 'momentum', 'alpha',
                        'use_tde', 'background_exempt', 'sync_embed'):
                head.pop(key, None)
        parent_cfg = copy.deepcopy(cfg)
        parent_cfg.type = cfg.type.replace('Causal', '')
        self.assertNotEqual(parent_cfg.type, cfg.type)
        torch.manual_seed(1)
        x, samples = features(), self.inputs([3])
        proposals = demo_mm_proposals([(3, IMG, IMG)], 100)
        runs = []
        for run_cfg in (cfg, parent_cfg):
            torch.manual_seed(0)
            roi_head = MODELS.build(run_cfg)
            roi_head.init_weights()
            roi_head.train()
            torch.manual_seed(2)  # the samplers draw at random
            losses = roi_head.loss(x, copy.deepcopy(proposals),
                                   copy.deepcopy(samples))
            roi_head.eval()
            with torch.no_grad():
                results = roi_head.predict(x, copy.deepcopy(proposals),
                                           copy.deepcopy(samples))
            runs.append((roi_head, losses, results[0]))
        (causal, losses, res), (parent, ref_losses, ref_res) = runs
        self.assertEqual(type(parent).__name__, parent_cfg.type)
        self.assertEqual(set(losses), set(ref_losses))
        for key, value in ref_losses.items():
            self.assertTrue(torch.equal(losses[key], value), key)
        self.assertGreater(len(ref_res), 0)
        for key in ('bboxes', 'scores', 'labels', 'masks'):
            self.assertTrue(torch.equal(res[key], ref_res[key]), key)

    def test_label_free_training_forwards(self):
        """OHEM mines hard examples with the box head in training mode
        before the targets exist; forward(mode='tensor') in training does
        too. Both work, and only bbox_loss updates the average."""
        cfg = roi_head_cfg(self.config, self.semantic)
        rcnn = cfg.train_cfg if isinstance(cfg.train_cfg,
                                           list) else [cfg.train_cfg]
        for stage in rcnn:
            stage.sampler = dict(
                type='OHEMSampler',
                num=64,
                pos_fraction=0.25,
                neg_pos_ub=-1,
                add_gt_as_proposals=True)
        torch.manual_seed(0)
        if self.semantic:
            self.skipTest('mmdet 3.3\'s OHEMSampler calls HTC\'s '
                          '_bbox_forward without the semantic feature')
        roi_head = MODELS.build(cfg)
        roi_head.init_weights()
        spy = UpdateSpy(roi_head)
        roi_head.train()
        losses = self._loss(roi_head, [3])
        self.assertTrue(
            all(
                torch.isfinite(v).all() for k, v in losses.items()
                if 'loss' in k and isinstance(v, torch.Tensor)))
        # mining forwards (where a stage has more candidates than it
        # samples), then each stage's loss forward: one update each
        forwards = [len(spy.inputs[id(h)]) for h in spy.heads]
        self.assertGreater(sum(forwards), len(spy.heads), forwards)
        for head in spy.heads:
            (labels, _, _), = spy.updates[id(head)]
            (targets, ) = spy.targets[id(head)]
            self.assertTrue(torch.equal(labels, targets[0]))
        # tensor mode, in training
        embeds = [h.causal_embed.clone() for h in spy.heads]
        with torch.no_grad():
            outs = roi_head.forward(features(),
                                    demo_mm_proposals([(3, IMG, IMG)], 20),
                                    self.inputs([3]))
        self.assertTrue(outs)
        for head, embed in zip(spy.heads, embeds):
            self.assertTrue(torch.equal(head.causal_embed, embed))


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
            x_cls = cls_feature(head, bbox_feats)
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
                x_cls = cls_feature(head, feats)
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

    def test_semantic_feature_reaches_box_heads(self):
        """In training, stage 0's box head sees its RoI features plus the
        semantic branch's, as in mmdet's HTC."""
        roi_head = self.build()
        roi_head.train()
        captured = {}

        def keep(name, value):  # a forward hook that returns None
            captured.setdefault(name, value)

        roi_head.semantic_head.register_forward_hook(
            lambda m, args, out: keep('semantic', out[1].detach().clone()))
        roi_head.bbox_roi_extractor[0].register_forward_hook(
            lambda m, args, out: keep('roi',
                                      (args[1].clone(), out.detach().clone())))
        spy = UpdateSpy(roi_head)
        self._loss(roi_head, [3])
        rois, plain = captured['roi']
        with torch.no_grad():
            semantic = F.adaptive_avg_pool2d(
                roi_head.semantic_roi_extractor([captured['semantic']], rois),
                plain.shape[-2:])
        self.assertGreater(semantic.abs().max().item(), 0)
        got = spy.inputs[id(roi_head.bbox_head[0])][0]
        torch.testing.assert_close(got, plain + semantic)


class TestSameAsLabelPassingRoIHeads(unittest.TestCase):
    """Under mmdet's own RoI heads, and under the Causal* names, a causal
    box head computes what it did under the label-passing RoI heads it
    needed before: the same losses, moving averages after every step and
    detections, bit for bit (the stored reference, made by
    tests/data/make_roi_head_reference.py from that code)."""

    def assert_same(self, got, want, exact, msg):
        if exact:
            self.assertTrue(torch.equal(got, want), msg)
        else:  # another torch: the same maths, rounded otherwise
            torch.testing.assert_close(got, want, msg=msg)

    def test_losses_averages_and_predictions(self):
        ref = torch.load(REFERENCE)
        # the stored bits are those of the torch that made them
        exact = ref['torch'] == str(torch.__version__)
        for name, (config, stock_type) in REFERENCE_CONFIGS.items():
            want = ref['runs'][name]
            for roi_type in (stock_type, 'Causal' + stock_type):
                with self.subTest(config=name, roi_head=roi_type):
                    got = reference_run(config, roi_type)
                    for step, (losses, ref_losses) in enumerate(
                            zip(got['losses'], want['losses'])):
                        self.assertEqual(set(losses), set(ref_losses))
                        for key, value in ref_losses.items():
                            self.assert_same(losses[key], value, exact,
                                             f'step {step} {key}')
                    for step, (embeds, ref_embeds) in enumerate(
                            zip(got['embeds'], want['embeds'])):
                        for stage, (e, ref_e) in enumerate(
                                zip(embeds, ref_embeds)):
                            self.assertGreater(ref_e.abs().sum().item(), 0)
                            self.assert_same(e, ref_e, exact,
                                             f'step {step} stage {stage}')
                    preds, ref_preds = got['predictions'], want['predictions']
                    self.assertGreater(len(ref_preds['scores']), 0)
                    for key in ('bboxes', 'scores', 'labels'):
                        self.assert_same(preds[key], ref_preds[key], exact,
                                         key)
                    if exact:
                        self.assertEqual(preds['masks_sha256'],
                                         ref_preds['masks_sha256'])


# --------------------------------------------------------------------------
# Distributed: a rank without any RoI must not hang the others
# --------------------------------------------------------------------------
def _train_step(config, roi_head_type, num_gts, num_proposals):
    """One training step (losses, backward, optimizer step) of a tiny
    causal RoI head under mmdet's own RoI head type, seeded; returns each
    stage's moving average."""
    register_all_modules()
    cfg = roi_head_cfg(config)
    cfg.type = roi_head_type
    torch.manual_seed(0)
    roi_head = MODELS.build(cfg)
    roi_head.init_weights()
    roi_head.train()
    torch.manual_seed(1)
    x = features()
    samples = demo_mm_inputs(
        batch_size=1,
        image_shapes=[(3, IMG, IMG)],
        num_items=[num_gts],
        num_classes=NUM_CLASSES,
        with_mask=True)['data_samples']
    proposals = demo_mm_proposals([(3, IMG, IMG)], num_proposals)
    torch.manual_seed(2)
    losses = roi_head.loss(x, proposals, samples)
    optimizer = torch.optim.SGD(roi_head.parameters(), lr=0.01)
    sum(v.sum() for k, v in losses.items() if 'loss' in k).backward()
    optimizer.step()
    return [h.causal_embed.clone() for h in roi_head.bbox_head]


#: (config, mmdet's RoI head type, rank 1's proposals) of the two-rank
#: test. Rank 1 has no ground truth; under the cascade no proposal either,
#: so no RoI at all, and mmdet's CascadeRoIHead.loss leaves its stage loop
#: after stage 0. mmdet 3.3's HTC cannot train a rank without any RoI
#: (its interleaved mask branch indexes the None that refine_bboxes
#: returns), so its rank 1 has background RoIs only.
CASCADES = (
    (REFERENCE_CONFIGS['cascade'][0], 'CascadeRoIHead', 0),
    (REFERENCE_CONFIGS['htc'][0], 'HybridTaskCascadeRoIHead', 100),
)


def _empty_rank_worker(rank, init_file, out_dir):
    torch.distributed.init_process_group(
        'gloo',
        init_method=f'file://{init_file}',
        rank=rank,
        world_size=2,
        # a hang fails the test instead of stalling it
        timeout=datetime.timedelta(seconds=60))
    results = [
        _train_step(config, roi_type, 3, 100) if rank == 0 else _train_step(
            config, roi_type, 0, proposals)
        for config, roi_type, proposals in CASCADES
    ]
    torch.save(results, osp.join(out_dir, f'{rank}.pth'))
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


class TestRankWithoutRoIs(unittest.TestCase):
    """Under mmdet's own CascadeRoIHead and HTC, a rank without any RoI
    takes part in every stage's update (at the optimizer step), so no rank
    waits for ever, and every rank ends with rank 0's average."""

    def test_every_rank_joins_every_stage_update(self):
        with tempfile.TemporaryDirectory() as tmp:
            mp.spawn(
                _empty_rank_worker,
                args=(osp.join(tmp, 'init'), tmp),
                nprocs=2,
                join=True)
            ranks = [torch.load(osp.join(tmp, f'{r}.pth')) for r in range(2)]
        for (config, roi_type, _), got0, got1 in zip(CASCADES, *ranks):
            single = _train_step(config, roi_type, 3, 100)  # rank 0 alone
            self.assertEqual(len(single), 3)
            for stage, (e0, e1, e) in enumerate(zip(got0, got1, single)):
                msg = f'{roi_type} stage {stage}'
                self.assertTrue(torch.equal(e0, e1), msg)
                torch.testing.assert_close(e0, e, msg=msg)
                self.assertGreater(e0.abs().sum().item(), 0, msg)


if __name__ == '__main__':
    unittest.main()
