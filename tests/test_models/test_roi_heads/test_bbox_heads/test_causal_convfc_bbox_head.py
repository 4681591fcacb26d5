# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The maths of the causal box head against the plain re-implementation of
method.md in tests/causal_reference.py."""
import copy
import math
import os
import tempfile
import unittest
from unittest import mock

import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from causal_reference import cls_feature, ref_log_probs, ref_logits, ref_probs
from mmdet.models.roi_heads.bbox_heads import (Shared2FCBBoxHead,
                                               Shared4Conv1FCBBoxHead)
from mmengine.logging import MMLogger

from mmdet_causal import (CausalConvFCBBoxHead, CausalShared2FCBBoxHead,
                          CausalShared4Conv1FCBBoxHead)
from mmdet_causal.models.utils import (TDEProbe, apply_embed_updates,
                                       checkpoint_checks, embed_sync,
                                       rule_of_thumb_alpha)

C = 7  # foreground classes
IN_CH, ROI = 4, 3
D = 12
CHECKS_MODULE = 'mmdet_causal.models.utils.checkpoint_checks'


def make_head(cls=CausalShared2FCBBoxHead, **kwargs):
    cfg = dict(
        in_channels=IN_CH,
        roi_feat_size=ROI,
        fc_out_channels=D,
        num_classes=C,
        reg_class_agnostic=True)
    cfg.update(kwargs)
    return cls(**cfg)


STOCK_TWIN = {
    CausalShared2FCBBoxHead: Shared2FCBBoxHead,
    CausalShared4Conv1FCBBoxHead: Shared4Conv1FCBBoxHead
}


def stock_twin(head):
    """mmdet's own head of the same shape, with the causal head's trunk
    weights (fc_cls is a Linear there; its weight has the same shape)."""
    stock = STOCK_TWIN[type(head)](
        in_channels=head.in_channels,
        roi_feat_size=head.roi_feat_size,
        conv_out_channels=head.conv_out_channels,
        fc_out_channels=head.fc_out_channels,
        num_classes=head.num_classes,
        reg_class_agnostic=head.reg_class_agnostic)
    stock.to(head.fc_cls.weight.dtype)
    result = stock.load_state_dict(head.state_dict(), strict=False)
    assert result.missing_keys == ['fc_cls.bias'], result
    assert result.unexpected_keys == ['causal_embed'], result
    return stock.train(head.training)


def features(head, feats):
    """The classification feature x, as mmdet's own ConvFCBBoxHead computes
    it: the input its fc_cls receives, in the stock twin."""
    stock = stock_twin(head)
    captured = []
    stock.fc_cls.register_forward_pre_hook(
        lambda module, args: captured.append(args[0]))
    with torch.no_grad():
        stock(feats)
    return captured[0]


def train_step(head, feats, labels):
    """A training forward and its moving-average update, as an RoI head's
    ``bbox_loss`` (forward, then ``loss_and_target`` with the targets'
    labels) and the optimizer step after it make them."""
    out = head(feats)
    update(head, out[0], labels)
    return out


def update(head, cls_score, labels):
    """``loss_and_target``'s part (its targets' labels) and the optimizer
    step's."""
    head.accumulate_embed(cls_score, labels)
    apply_embed_updates([head])


class TestCausalHeadMaths(unittest.TestCase):

    def setUp(self):
        torch.manual_seed(0)
        self.feats = torch.randn(6, IN_CH, ROI, ROI, dtype=torch.float64)

    def _trained_head(self, **kwargs):
        head = make_head(**kwargs).double()
        head.init_weights()
        head.causal_embed.copy_(torch.randn(D, dtype=torch.float64).abs())
        return head

    def test_training_logits(self):
        for num_heads in (1, 2, 3):
            head = self._trained_head(
                num_heads=num_heads, scale=10.0, gamma=0.05).train()
            x = features(head, self.feats)
            labels = torch.tensor([0, 1, C, 3, C, 6])
            cls_score, bbox_pred = train_step(head, self.feats, labels)
            expected = ref_logits(x, head.fc_cls.weight.detach(), num_heads,
                                  10.0, 0.05, 1e-9)
            torch.testing.assert_close(
                cls_score.detach(), expected, rtol=0, atol=1e-12)
            self.assertEqual(bbox_pred.shape, (6, 4))

    def test_eval_probabilities(self):
        for num_heads in (1, 2, 4):
            for alpha in (0.0, 0.5, 1.5, 3.0):
                for bg_exempt in (True, False):
                    head = self._trained_head(
                        num_heads=num_heads,
                        alpha=alpha,
                        background_exempt=bg_exempt).eval()
                    x = features(head, self.feats)
                    cls_score, _ = head(self.feats)
                    probs = F.softmax(cls_score, dim=1)
                    expected = ref_probs(x, head.fc_cls.weight.detach(),
                                         head.causal_embed, num_heads, 16.0,
                                         1 / 32, 1e-9, alpha, bg_exempt)
                    torch.testing.assert_close(
                        probs,
                        expected,
                        rtol=0,
                        atol=1e-12,
                        msg=f'K={num_heads} alpha={alpha} '
                        f'background_exempt={bg_exempt}')
                    torch.testing.assert_close(
                        probs.sum(1), torch.ones(6, dtype=torch.float64))

    def test_features_are_those_of_mmdet_trunk(self):
        """The head's x is what mmdet's own Shared2FC/Shared4Conv1FC trunk
        computes with the same weights, in training and eval."""
        for cls in (CausalShared2FCBBoxHead, CausalShared4Conv1FCBBoxHead):
            torch.manual_seed(0)
            head = make_head(cls, conv_out_channels=4)
            head.init_weights()
            for training in (True, False):
                head.train(training)
                with torch.no_grad():
                    got = cls_feature(head, self.feats.float())
                expected = features(head, self.feats.float())
                torch.testing.assert_close(got, expected, rtol=0, atol=0)
                # and the training logits are the cosine logits of that x
                if training:
                    labels = torch.tensor([0, 1, C, 3, C, 6])
                    y = train_step(head, self.feats.float(), labels)[0]
                    torch.testing.assert_close(
                        y.double(),
                        ref_logits(expected.double(),
                                   head.fc_cls.weight.detach().double(), 2,
                                   16.0, 1 / 32, 1e-9),
                        rtol=1e-5,
                        atol=1e-5)

    def test_tde_changes_scores_and_keeps_background(self):
        head = self._trained_head(alpha=1.5).eval()
        x = features(head, self.feats)
        plain = torch.softmax(
            ref_logits(x, head.fc_cls.weight.detach(), 2, 16.0, 1 / 32, 1e-9),
            1)
        probs = F.softmax(head(self.feats)[0], dim=1)
        torch.testing.assert_close(
            probs[:, C], plain[:, C], rtol=0, atol=1e-12)
        # TDE must actually re-rank the foreground, or the test is vacuous.
        self.assertGreater((probs[:, :C] - plain[:, :C]).abs().max(), 1e-3)

    def test_alpha_zero_and_no_tde_are_plain_softmax(self):
        head = self._trained_head(alpha=0.0).eval()
        x = features(head, self.feats)
        plain = torch.softmax(
            ref_logits(x, head.fc_cls.weight.detach(), 2, 16.0, 1 / 32, 1e-9),
            1)
        torch.testing.assert_close(
            F.softmax(head(self.feats)[0], 1), plain, rtol=0, atol=1e-12)
        head.alpha, head.use_tde = 1.5, False
        torch.testing.assert_close(
            F.softmax(head(self.feats)[0], 1), plain, rtol=0, atol=1e-12)

    def test_extreme_background_keeps_finite_log_probs(self):
        """p_bg -> 1: 1 - p_bg is below float32's resolution (a naive
        log(1 - p_bg) gives -inf, whose softmax is still finite), yet
        cls_score = log P must be finite and equal a float64 reference."""
        torch.manual_seed(0)
        head = make_head(alpha=1.5).eval()  # float32, as models run
        head.init_weights()
        head.causal_embed.copy_(torch.rand(D))
        feats = self.feats.float()
        x = features(head, feats)
        self.assertTrue((x >= 0).all())  # after the trunk's ReLU
        with torch.no_grad():
            # background weight along every (non-negative) feature: its
            # cosine is large; the foreground weights are small and random
            head.fc_cls.weight[C] = 1.0
            head.fc_cls.weight[:C] *= 0.05
        head.fc_cls.scale = 400.0
        score = head(feats)[0]
        self.assertTrue(torch.isfinite(score).all())
        w = head.fc_cls.weight.detach().double()
        y = ref_logits(x.double(), w, 2, 400.0, 1 / 32, 1e-9)
        log_1m_pbg = (torch.logsumexp(y[:, :C], 1) - torch.logsumexp(y, 1))
        self.assertLess(log_1m_pbg.max().item(), -30)  # 1 - p_bg < 1e-13
        expected = ref_log_probs(x.double(), w, head.causal_embed.double(), 2,
                                 400.0, 1 / 32, 1e-9, 1.5)
        torch.testing.assert_close(
            score.double(), expected, rtol=1e-4, atol=1e-3)

    def test_cos_statistics(self):
        """The probe a tool attaches reads cos per RoI of every eval forward
        (training forwards and forwards after it is detached do not
        count); the head keeps nothing."""
        head = self._trained_head().eval()
        with TDEProbe([head]) as probe:
            head(self.feats[:4])
            head(self.feats[4:])
            head.train()
            head(self.feats)  # a training forward: not a test RoI
            head.eval()
        head(self.feats)  # detached
        x = features(head, self.feats)
        cos = []
        for k in range(2):
            xk = x[:, 6 * k:6 * (k + 1)]
            ek = head.causal_embed[6 * k:6 * (k + 1)]
            cos.append((xk / xk.norm(dim=1, keepdim=True)) @ (ek / ek.norm()))
        cos = torch.stack(cos, 1)
        (stats, ) = probe.cos_stats()
        self.assertEqual(stats['num_rois'], 6)
        torch.testing.assert_close(
            torch.tensor(stats['per_head'], dtype=torch.float64), cos.mean(0))
        self.assertAlmostEqual(stats['mean'], cos.mean().item(), places=6)
        self.assertAlmostEqual(
            stats['rule_of_thumb_alpha'], 1 / cos.mean().item(), places=5)
        self.assertAlmostEqual(
            rule_of_thumb_alpha([stats, stats]),
            1 / cos.mean().item(),
            places=5)
        probe.reset()
        self.assertEqual(probe.cos_stats()[0]['num_rois'], 0)
        self.assertIsNone(rule_of_thumb_alpha(probe.cos_stats()))
        self.assertFalse(head.fc_cls._forward_hooks)

    def test_probe_records_the_terms_of_every_forward(self):
        head = self._trained_head().eval()
        with TDEProbe([head], record_terms=True) as probe:
            score = head(self.feats)[0]
        ((y, y0_unit), ) = probe.terms
        torch.testing.assert_close(
            head.combine_scores(y, y0_unit, head.alpha), score, rtol=0, atol=0)

    def test_rank_k_counterfactual_matches_full_product(self):
        head = self._trained_head(num_heads=3).eval()
        x = features(head, self.feats)
        y, cos, y0_unit = head.tde_terms(x)
        d = D // 3
        xn = torch.cat([
            x[:, k * d:(k + 1) * d] /
            (x[:, k * d:(k + 1) * d].norm(dim=1, keepdim=True) + 1e-9)
            for k in range(3)
        ], 1)
        e = head.causal_embed
        en = torch.cat([
            e[k * d:(k + 1) * d] / (e[k * d:(k + 1) * d].norm() + 1e-9)
            for k in range(3)
        ])
        # (x̂ - cos * ê) @ ŵ^T is the authors' formulation of z (alpha = 1).
        w = head.fc_cls.weight.detach()
        wn = torch.cat([
            w[:, k * d:(k + 1) * d] /
            (w[:, k * d:(k + 1) * d].norm(dim=1, keepdim=True) + 1 / 32)
            for k in range(3)
        ], 1)
        proj = torch.cat(
            [cos[:, k:k + 1] * en[k * d:(k + 1) * d] for k in range(3)], 1)
        torch.testing.assert_close(
            y - y0_unit, 16.0 / 3 * (xn - proj) @ wn.t(), rtol=0, atol=1e-12)


class TestMovingAverage(unittest.TestCase):

    def setUp(self):
        torch.manual_seed(1)
        self.feats = torch.randn(6, IN_CH, ROI, ROI)

    def head_with_embed(self, training=True, **kwargs):
        """A head whose moving average holds a known random e0."""
        head = make_head(**kwargs).train(training)
        e0 = torch.randn(D)
        head.causal_embed.copy_(e0)
        return head, e0

    def test_only_foreground_counts(self):
        head, e0 = self.head_with_embed(momentum=0.9)
        # class 0 and background rows: the old `label > 0` rule would drop
        # the class-0 rows and keep the background ones.
        labels = torch.tensor([0, 0, C, C, 2, 5])
        x = features(head, self.feats)
        train_step(head, self.feats, labels)
        fg = labels < C
        expected = 0.9 * e0 + x[fg].mean(0)
        torch.testing.assert_close(head.causal_embed, expected)
        old_rule = 0.9 * e0 + x[labels > 0].mean(0)
        self.assertFalse(torch.allclose(head.causal_embed, old_rule))

    def test_no_foreground_leaves_buffer_unchanged(self):
        head, e0 = self.head_with_embed()
        train_step(head, self.feats, torch.full((6, ), C))
        self.assertTrue(torch.equal(head.causal_embed, e0))
        train_step(head, self.feats[:0], torch.zeros(0, dtype=torch.long))
        self.assertTrue(torch.equal(head.causal_embed, e0))

    def test_non_finite_features_do_not_poison_buffer(self):
        head, e0 = self.head_with_embed()
        feats = self.feats.clone()
        feats[0] = float('nan')
        train_step(head, feats, torch.zeros(6, dtype=torch.long))
        self.assertTrue(torch.equal(head.causal_embed, e0))

    def test_nan_in_background_row_is_not_averaged(self):
        head, e0 = self.head_with_embed(momentum=0.9)
        feats = self.feats.clone()
        feats[2] = float('nan')  # a background RoI
        labels = torch.tensor([0, 1, C, 3, C, 6])
        x = features(head, feats)
        self.assertTrue(torch.isnan(x[2]).all())
        train_step(head, feats, labels)
        fg = labels < C
        torch.testing.assert_close(head.causal_embed, 0.9 * e0 + x[fg].mean(0))

    def test_eval_never_updates(self):
        """An eval forward keeps no feature for a loss: nothing can reach
        the average from it."""
        head, e0 = self.head_with_embed(training=False)
        cls_score, _ = head(self.feats)
        with self.assertRaisesRegex(RuntimeError, 'no training forward'):
            update(head, cls_score, torch.zeros(6, dtype=torch.long))
        self.assertTrue(torch.equal(head.causal_embed, e0))

    def test_forward_alone_does_not_update(self):
        """A training forward that no loss_and_target follows (OHEM's and
        ScoreHLR's mining, forward(mode='tensor')) returns the cosine
        logits and leaves the average alone, even across optimizer steps."""
        head, e0 = self.head_with_embed()
        y = head(self.feats)[0]
        apply_embed_updates([head])
        self.assertTrue(torch.equal(head.causal_embed, e0))
        expected = ref_logits(
            features(head, self.feats).double(),
            head.fc_cls.weight.detach().double(), 2, 16.0, 1 / 32, 1e-9)
        torch.testing.assert_close(y.double(), expected, rtol=1e-5, atol=1e-5)

    def test_loss_and_target_feeds_the_next_optimizer_step(self):
        """mmdet's targets' labels and the feature of the forward that made
        cls_score: the average moves at the optimizer step, not before."""
        head, e0 = self.head_with_embed(momentum=0.9)
        labels = torch.tensor([0, 0, C, C, 2, 5])
        x = features(head, self.feats)
        cls_score, bbox_pred = head(self.feats)
        targets = (labels, torch.ones(6), torch.zeros(6, 4), torch.zeros(6, 4))
        with mock.patch.object(
                Shared2FCBBoxHead, 'get_targets', return_value=targets):
            out = head.loss_and_target(cls_score, bbox_pred, torch.zeros(6, 5),
                                       [], None)
        self.assertIn('loss_cls', out['loss_bbox'])
        self.assertTrue(torch.equal(head.causal_embed, e0))
        optimizer = torch.optim.SGD(head.parameters(), lr=0.0)
        optimizer.step()
        torch.testing.assert_close(head.causal_embed,
                                   0.9 * e0 + x[labels < C].mean(0))
        # an optimizer of other parameters leaves the head alone
        moved = head.causal_embed.clone()
        head(self.feats)
        head.accumulate_embed(cls_score, labels)
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.0).step()
        self.assertTrue(torch.equal(head.causal_embed, moved))
        optimizer.step()
        self.assertFalse(torch.equal(head.causal_embed, moved))

    def test_a_step_inside_another_step_moves_the_average_once(self):
        """ZeroRedundancyOptimizer steps its rank's shard optimizer inside
        its own step: one update (one all-reduce), at the outer step."""

        class Sharded(torch.optim.SGD):

            def __init__(self, params, shard):
                super().__init__(params, lr=0.0)
                self.shard = torch.optim.SGD(shard, lr=0.0)

            def step(self, closure=None):
                self.shard.step()  # the rank's part: not the classifier
                return super().step(closure)

        head, e0 = self.head_with_embed(momentum=0.9)
        labels = torch.tensor([0, 0, C, C, 2, 5])
        x = features(head, self.feats)
        cls_score, _ = head(self.feats)
        head.accumulate_embed(cls_score, labels)
        optimizer = Sharded(head.parameters(), [head.fc_reg.weight])
        with mock.patch.object(
                embed_sync,
                'apply_embed_updates',
                wraps=embed_sync.apply_embed_updates) as applied:
            optimizer.step()
        self.assertEqual(applied.call_count, 1)
        torch.testing.assert_close(head.causal_embed,
                                   0.9 * e0 + x[labels < C].mean(0))

    def test_a_classifier_no_optimizer_trains_warns_once(self):
        head, e0 = self.head_with_embed()
        cls_score, _ = head(self.feats)
        head.accumulate_embed(cls_score, torch.zeros(6, dtype=torch.long))
        others = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.)
        logger = MMLogger.get_current_instance()
        with self.assertLogs(logger, level='WARNING') as logs:
            for _ in range(2 * embed_sync.UNCLAIMED_STEPS_WARNING):
                others.step()
        warned = [m for m in logs.output if 'has not moved in' in m]
        self.assertEqual(len(warned), 1, logs.output)
        self.assertIn('fc_cls.weight', warned[0])
        self.assertTrue(torch.equal(head.causal_embed, e0))

    def test_a_deep_copy_trains_like_the_original(self):
        head, e0 = self.head_with_embed(momentum=0.9)
        twin = copy.deepcopy(head)
        labels = torch.tensor([0, 0, C, C, 2, 5])
        x = features(twin, self.feats)
        cls_score, _ = twin(self.feats)
        twin.accumulate_embed(cls_score, labels)
        torch.optim.SGD(twin.parameters(), lr=0.0).step()
        torch.testing.assert_close(twin.causal_embed,
                                   0.9 * e0 + x[labels < C].mean(0))
        self.assertTrue(torch.equal(head.causal_embed, e0))

    def test_scores_without_their_forward_are_refused(self):
        head = make_head().train()
        labels = torch.zeros(6, dtype=torch.long)
        with self.assertRaisesRegex(RuntimeError, 'no training forward'):
            update(head, torch.zeros(6, C + 1), labels)
        head(self.feats[:4])
        with self.assertRaisesRegex(RuntimeError, 'over 4 RoIs'):
            update(head, torch.zeros(6, C + 1), labels)
        cls_score, _ = head(self.feats)
        with self.assertRaisesRegex(ValueError, '5 labels for 6 RoIs'):
            update(head, cls_score, labels[:5])

    def test_an_update_without_statistics_changes_nothing(self):
        head, e0 = self.head_with_embed()
        apply_embed_updates([head])
        self.assertTrue(torch.equal(head.causal_embed, e0))

    def test_bf16_autocast_keeps_float32_and_finite(self):
        head = make_head().train()
        labels = torch.tensor([0, 1, 2, C, C, 3])
        with torch.autocast('cpu', dtype=torch.bfloat16):
            cls_score, _ = train_step(head, self.feats, labels)
            cls_score.float().sum().backward()
        self.assertEqual(head.causal_embed.dtype, torch.float32)
        self.assertTrue(torch.isfinite(head.causal_embed).all())
        self.assertGreater(head.causal_embed.abs().sum(), 0)
        head.eval()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            score = head(self.feats)[0]
        self.assertTrue(torch.isfinite(score).all())


class TestPrecision(unittest.TestCase):
    """TDE terms and normalisations run in float32 whatever the input dtype;
    cls_score leaves in the dtype of the head's parameters."""

    def setUp(self):
        torch.manual_seed(4)
        self.feats = torch.randn(64, IN_CH, ROI, ROI)
        self.labels = torch.randint(0, C + 1, (64, ))

    def _head(self, **kwargs):
        torch.manual_seed(5)
        head = make_head(fc_out_channels=32, **kwargs)
        head.init_weights()
        # a trained-looking average: large (it grows to mean / (1 - mu)),
        # far outside fp16's range once squared in a norm
        head.causal_embed.copy_(torch.rand(32) * 3e3)
        return head

    def _ranking_changes(self, head, feats):
        head.alpha = 0.0
        plain = head(feats)[0].float().argmax(1)
        head.alpha = 3.0
        tde = head(feats)[0].float().argmax(1)
        return bool((plain != tde).any())

    def test_float32_head_under_bf16_autocast(self):
        head = self._head(alpha=1.5).eval()
        with torch.no_grad():
            ref = F.softmax(head(self.feats)[0], 1)
            with torch.autocast('cpu', dtype=torch.bfloat16):
                score = head(self.feats)[0]
        self.assertEqual(score.dtype, torch.float32)
        self.assertTrue(torch.isfinite(score).all())
        # the trunk runs in bf16 (8 bits of mantissa): probabilities within
        # 0.05 of float32's; the TDE terms add no error of their own
        torch.testing.assert_close(F.softmax(score, 1), ref, rtol=0, atol=0.05)
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
            self.assertTrue(self._ranking_changes(head, self.feats))

    def test_tde_terms_are_float32_on_bf16_features(self):
        head = self._head().eval()
        x = features(head, self.feats)
        y, cos, y0 = head.tde_terms(x.bfloat16())
        for t in (y, cos, y0):
            self.assertEqual(t.dtype, torch.float32)
        # exactly the float32 terms of the bf16-rounded features
        y32, cos32, y032 = head.tde_terms(x.bfloat16().float())
        self.assertTrue(
            torch.equal(y, y32) and torch.equal(cos, cos32)
            and torch.equal(y0, y032))

    def test_half_model(self):
        """model.half(): the moving average stays float32 (no overflow),
        eps does not round to 0, scores are never NaN."""
        head = self._head(alpha=1.5).eval()
        with torch.no_grad():
            ref = F.softmax(head(self.feats)[0], 1)
        head.half()
        self.assertEqual(head.causal_embed.dtype, torch.float32)
        self.assertEqual(head.causal_embed.max().item(),
                         self._head().causal_embed.max().item())
        try:
            with torch.no_grad():
                score = head(self.feats.half())[0]
        except RuntimeError as e:  # an op without a CPU half kernel
            self.skipTest(f'this CPU build has no half kernel: {e}')
        self.assertEqual(score.dtype, torch.float16)
        self.assertTrue(torch.isfinite(score).all())
        torch.testing.assert_close(
            F.softmax(score.float(), 1), ref, rtol=0, atol=0.02)
        with torch.no_grad():
            self.assertTrue(self._ranking_changes(head, self.feats.half()))
        # training: the update reads fp16 features into the float32 average
        head.train()
        e0 = head.causal_embed.clone()
        y = train_step(head, self.feats.half(), self.labels)[0]
        self.assertEqual(y.dtype, torch.float16)
        self.assertTrue(torch.isfinite(head.causal_embed).all())
        self.assertFalse(torch.equal(head.causal_embed, e0))
        self.assertEqual(head.causal_embed.dtype, torch.float32)


class TestValidationAndCheckpoints(unittest.TestCase):

    def test_num_heads_divides_the_classifier_width_only(self):
        # D = 1024 with K = 512 is valid; the flattened RoI width
        # 256 * 7 * 7 = 12544 is not the classifier's and must not count
        head = CausalShared2FCBBoxHead(num_classes=5, num_heads=512)
        self.assertEqual(head.fc_cls.num_heads, 512)
        self.assertEqual(head.fc_cls.in_features, 1024)
        with self.assertRaisesRegex(ValueError, r'\(1024\).*num_heads \(3\)'):
            CausalShared2FCBBoxHead(num_classes=5, num_heads=3)

    def test_alpha_must_be_finite(self):
        for bad in (math.inf, -math.inf, math.nan, -0.5):
            with self.assertRaisesRegex(ValueError, 'finite, non-negative'):
                make_head(alpha=bad)
            head = make_head()
            with self.assertRaisesRegex(ValueError, 'finite, non-negative'):
                head.alpha = bad
            self.assertEqual(head.alpha, 1.5)

    def test_gamma_must_be_positive(self):
        with self.assertRaisesRegex(ValueError, 'gamma must be positive'):
            make_head(gamma=0.0)

    def test_invalid_arguments(self):
        with self.assertRaisesRegex(ValueError, 'divisible by num_heads'):
            make_head(num_heads=5)
        with self.assertRaisesRegex(ValueError, 'alpha'):
            make_head(alpha=-1.0)
        for momentum in (1.0, -0.1):
            with self.assertRaisesRegex(ValueError, 'momentum'):
                make_head(momentum=momentum)
        with self.assertRaisesRegex(ValueError, 'cls_predictor_cfg'):
            make_head(cls_predictor_cfg=dict(type='Linear'))
        with self.assertRaisesRegex(ValueError, 'softmax'):
            make_head(loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True))
        head = make_head()
        with self.assertRaisesRegex(ValueError, 'alpha'):
            head.alpha = float('nan')

    def test_defaults_are_the_published_ones(self):
        head = CausalShared4Conv1FCBBoxHead(num_classes=C)
        self.assertEqual(head.fc_cls.num_heads, 2)
        self.assertEqual(head.fc_cls.scale, 16.0)
        self.assertEqual(head.fc_cls.gamma, 1 / 32)
        self.assertEqual(head.momentum, 0.9998)
        self.assertEqual(head.alpha, 1.5)
        self.assertTrue(head.use_tde and head.background_exempt
                        and head.sync_embed)
        self.assertEqual(head.causal_embed.shape, (1024, ))
        self.assertEqual(len(head.shared_convs), 4)
        self.assertEqual(len(head.shared_fcs), 1)
        self.assertIsInstance(head, CausalConvFCBBoxHead)

    def test_init_weights_keeps_uniform_classifier_init(self):
        head = make_head(fc_out_channels=64)
        head.init_weights()
        w = head.fc_cls.weight
        self.assertLessEqual(w.abs().max().item(), 1 / 8)
        # Uniform on [-1/8, 1/8] has std 1/(8 sqrt 3) ~ 0.072, far from
        # mmdet's Normal(std=0.01) for a Linear fc_cls.
        self.assertGreater(w.std().item(), 0.05)

    def test_state_dict_round_trip_is_exact(self):
        head = make_head().train()
        torch.manual_seed(2)
        for _ in range(3):
            train_step(head, torch.randn(5, IN_CH, ROI, ROI),
                       torch.tensor([0, 1, C, 2, 3]))
        state = head.state_dict()
        self.assertIn('causal_embed', state)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'head.pth')
            torch.save(state, path)
            restored = make_head()
            restored.load_state_dict(torch.load(path))
        self.assertTrue(torch.equal(restored.causal_embed, head.causal_embed))

    def test_stock_checkpoint_reports_what_is_missing(self):
        stock = Shared2FCBBoxHead(
            in_channels=IN_CH,
            roi_feat_size=ROI,
            fc_out_channels=D,
            num_classes=C,
            reg_class_agnostic=True)
        head = make_head()
        with mock.patch(f'{CHECKS_MODULE}.print_log') as log, \
                mock.patch.object(checkpoint_checks, '_warned', set()):
            result = head.load_state_dict(stock.state_dict(), strict=False)
        self.assertIn('causal_embed', result.missing_keys)
        self.assertIn('fc_cls.bias', result.unexpected_keys)
        # the real problem named: the classifier is not in the checkpoint
        self.assertIn("classifier is untrained for this causal config",
                      log.call_args[0][0])
        self.assertIn('causal_embed is missing', log.call_args[0][0])
        with self.assertRaisesRegex(RuntimeError, 'causal_embed'):
            head.load_state_dict(stock.state_dict())

    def test_zero_embed_warns_once_at_test_time(self):
        head = make_head().eval()
        with mock.patch(f'{CHECKS_MODULE}.print_log') as log, \
                mock.patch.object(checkpoint_checks, '_warned', set()):
            head(torch.randn(2, IN_CH, ROI, ROI))
            head(torch.randn(2, IN_CH, ROI, ROI))
        self.assertEqual(log.call_count, 1)
        self.assertIn('all zeros', log.call_args[0][0])

    def test_stock_checkpoint_warns_once_for_all_heads_and_images(self):
        """Three stages loaded from a stock checkpoint, then tested on two
        images: one warning in all (tools/test.py prints this)."""
        stock = Shared2FCBBoxHead(
            in_channels=IN_CH,
            roi_feat_size=ROI,
            fc_out_channels=D,
            num_classes=C,
            reg_class_agnostic=True).state_dict()
        stock['fc_cls.weight'] = torch.randn(C + 1, D)
        with mock.patch(f'{CHECKS_MODULE}.print_log') as log, \
                mock.patch.object(checkpoint_checks, '_warned', set()):
            heads = [make_head() for _ in range(3)]
            for head in heads:
                head.load_state_dict(stock, strict=False)
                head.eval()
            for _ in range(2):
                for head in heads:
                    head(torch.randn(2, IN_CH, ROI, ROI))
        self.assertEqual(log.call_count, 1)
        self.assertIn('causal_embed', log.call_args[0][0])

    def test_eval_with_zero_rois(self):
        head = make_head().eval()
        head.causal_embed.copy_(torch.rand(D))
        cls_score, bbox_pred = head(torch.randn(0, IN_CH, ROI, ROI))
        self.assertEqual(cls_score.shape, (0, C + 1))
        self.assertEqual(bbox_pred.shape, (0, 4))
        with TDEProbe([head]) as probe:
            head(torch.randn(0, IN_CH, ROI, ROI))
            self.assertEqual(probe.cos_stats()[0]['num_rois'], 0)
            head(torch.randn(3, IN_CH, ROI, ROI))
        self.assertEqual(probe.cos_stats()[0]['num_rois'], 3)


# --------------------------------------------------------------------------
# Distributed: two gloo processes
# --------------------------------------------------------------------------
def _batches():
    g = torch.Generator().manual_seed(3)
    feats = torch.randn(2, 2, 5, IN_CH, ROI, ROI, generator=g)
    labels = torch.tensor([[[0, C, 1, 2, C], [C, C, C, C, C]],
                           [[3, 4, C, 0, 6], [5, C, C, 1, 1]]])
    return feats, labels  # (iteration, rank, ...)


def _dist_worker(rank, world_size, init_file, out_dir):
    torch.distributed.init_process_group(
        'gloo',
        init_method=f'file://{init_file}',
        rank=rank,
        world_size=world_size)
    torch.manual_seed(0)
    head = make_head(momentum=0.5).train()
    feats, labels = _batches()
    for it in range(2):
        train_step(head, feats[it, rank], labels[it, rank])
    two = head.causal_embed.clone()
    # a third step where rank 1's features overflowed (fp16): rank 0's count
    third = feats[0, rank].clone()
    if rank == 1:
        third.fill_(float('inf'))
    train_step(head, third, labels[1, rank])
    torch.save(
        dict(two=two, three=head.causal_embed),
        os.path.join(out_dir, f'{rank}.pth'))
    torch.distributed.destroy_process_group()


class TestDistributedSync(unittest.TestCase):

    def test_two_ranks_agree_with_single_process_union(self):
        with tempfile.TemporaryDirectory() as tmp:
            mp.spawn(
                _dist_worker,
                args=(2, os.path.join(tmp, 'init'), tmp),
                nprocs=2,
                join=True)
            saved = [
                torch.load(os.path.join(tmp, f'{r}.pth')) for r in range(2)
            ]
        embeds = [s['two'] for s in saved]
        self.assertTrue(torch.equal(embeds[0], embeds[1]))

        torch.manual_seed(0)
        single = make_head(momentum=0.5).train()
        feats, labels = _batches()
        for it in range(2):
            train_step(single, feats[it].flatten(0, 1), labels[it].flatten())
        torch.testing.assert_close(embeds[0], single.causal_embed)
        # the overflowed rank adds nothing; the other's step is not lost
        train_step(single, feats[0, 0], labels[1, 0])
        for rank in range(2):
            torch.testing.assert_close(saved[rank]['three'],
                                       single.causal_embed)
        self.assertFalse(torch.equal(saved[0]['three'], embeds[0]))
        # Unsynchronised ranks would differ: rank 1 of iteration 0 has no
        # foreground at all.
        torch.manual_seed(0)
        local = make_head(momentum=0.5, sync_embed=False).train()
        for it in range(2):
            train_step(local, feats[it, 0], labels[it, 0])
        self.assertFalse(torch.allclose(local.causal_embed, embeds[0]))


if __name__ == '__main__':
    unittest.main()
