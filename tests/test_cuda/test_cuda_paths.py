# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The CUDA path: the causal head under autocast fp16/bf16, the moving
average on CUDA against the CPU, a tiny HTC training step and predict.

They skip without CUDA. ``MMDET_CAUSAL_TEST_DEVICE=cpu`` runs them on the
CPU instead, to check the tests themselves where no GPU is at hand
(tools/device/check.sh runs them on the GPU machine)."""
import copy
import os
import os.path as osp
import unittest

import torch
import torch.nn.functional as F

import mmdet_causal  # noqa: F401
from mmdet_causal import CausalShared4Conv1FCBBoxHead

DEVICE = os.environ.get('MMDET_CAUSAL_TEST_DEVICE', 'cuda')
ON_DEVICE = DEVICE != 'cuda' or torch.cuda.is_available()
CONFIGS = osp.join(osp.dirname(__file__), '..', '..', 'configs')
# LVIS shapes: 1203 classes, 256x7x7 RoI features, 1024-d classifier input
NUM_CLASSES, IN_CH, ROI, D = 1203, 256, 7, 1024
#: how far the probabilities under autocast may be from float32's: the
#: trunk runs in the low precision (fp16 keeps 11 bits of mantissa, bf16 8);
#: the TDE terms are float32 either way
TOLERANCE = {torch.float16: 0.01, torch.bfloat16: 0.05}


def head_at_lvis_shapes(seed=0):
    torch.manual_seed(seed)
    head = CausalShared4Conv1FCBBoxHead(
        in_channels=IN_CH,
        roi_feat_size=ROI,
        fc_out_channels=D,
        num_classes=NUM_CLASSES,
        reg_class_agnostic=True,
        alpha=1.5)
    head.init_weights()
    # a trained-looking average (it grows to mean / (1 - momentum))
    head.causal_embed.copy_(torch.rand(D) * 3e3)
    return head


def mmcv_cuda_ops() -> bool:
    if DEVICE != 'cuda':
        return True
    if os.environ.get('MMDET_CAUSAL_MMCV_OPS') == 'cpu':
        return False
    try:
        from mmcv.ops import RoIAlign
        RoIAlign((2, 2), 1.0)(torch.zeros(1, 1, 4, 4, device='cuda'),
                              torch.tensor([[0, 0, 0, 2, 2.]], device='cuda'))
        return True
    except Exception:  # noqa: BLE001 (mmcv built without CUDA ops)
        return False


@unittest.skipUnless(ON_DEVICE, 'no CUDA device')
class TestCausalHeadOnDevice(unittest.TestCase):

    def setUp(self):
        torch.manual_seed(1)
        self.feats = torch.randn(256, IN_CH, ROI, ROI, device=DEVICE)
        self.labels = torch.randint(0, NUM_CLASSES + 1, (256, ), device=DEVICE)

    def check_autocast(self, dtype):
        head = head_at_lvis_shapes().to(DEVICE).eval()
        with torch.no_grad():
            ref = F.softmax(head(self.feats)[0], 1)
            with torch.autocast(DEVICE, dtype=dtype):
                score = head(self.feats)[0]
        self.assertEqual(score.dtype, torch.float32)
        self.assertTrue(torch.isfinite(score).all())
        prob = F.softmax(score, 1)
        err = float((prob - ref).abs().max())
        self.assertLess(err, TOLERANCE[dtype], f'{dtype}: {err}')
        # training under autocast: finite loss, gradients and average
        head.train()
        with torch.autocast(DEVICE, dtype=dtype):
            cls_score, bbox_pred = head(self.feats, labels=self.labels)
            loss = F.cross_entropy(cls_score.float(), self.labels)
        loss.backward()
        self.assertTrue(torch.isfinite(loss))
        for name, p in head.named_parameters():
            if p.grad is not None:
                self.assertTrue(torch.isfinite(p.grad).all(), name)
        self.assertEqual(head.causal_embed.dtype, torch.float32)
        self.assertTrue(torch.isfinite(head.causal_embed).all())

    def test_fp16_autocast(self):
        self.check_autocast(torch.float16)

    def test_bf16_autocast(self):
        self.check_autocast(torch.bfloat16)

    def test_moving_average_equals_the_cpu(self):
        cpu = head_at_lvis_shapes().train()
        dev = copy.deepcopy(cpu).to(DEVICE)
        torch.manual_seed(2)
        for _ in range(5):
            feats = torch.randn(128, IN_CH, ROI, ROI)
            labels = torch.randint(0, NUM_CLASSES + 1, (128, ))
            with torch.no_grad():
                cpu(feats, labels=labels)
                dev(feats.to(DEVICE), labels=labels.to(DEVICE))
        self.assertEqual(cpu.num_embed_updates, dev.num_embed_updates)
        # the same float32 arithmetic in another order: equal to rounding
        torch.testing.assert_close(
            dev.causal_embed.cpu(), cpu.causal_embed, rtol=1e-5, atol=1e-3)


@unittest.skipUnless(ON_DEVICE, 'no CUDA device')
class TestTinyHTCOnDevice(unittest.TestCase):

    def setUp(self):
        if not mmcv_cuda_ops():
            self.skipTest('mmcv without CUDA ops (RoIAlign)')
        from mmdet.registry import MODELS
        from mmdet.testing import demo_mm_inputs
        from mmdet.utils import register_all_modules
        from mmengine.config import Config
        register_all_modules()
        cfg = Config.fromfile(
            osp.join(CONFIGS, 'tiny', 'htc-causal_r18_fpn_tiny-lvis.py'))
        torch.manual_seed(0)
        self.model = MODELS.build(cfg.model).to(DEVICE)
        self.model.init_weights()
        self.batch = demo_mm_inputs(
            batch_size=2,
            image_shapes=[(3, 128, 128), (3, 96, 128)],
            num_classes=16,
            with_mask=True)

    def train_step(self, dtype=None):
        self.model.train()
        data = self.model.data_preprocessor(self.batch, True)
        ctx = torch.autocast(DEVICE, dtype=dtype) if dtype else \
            torch.autocast(DEVICE, enabled=False)
        with ctx:
            losses = self.model(**data, mode='loss')
        total, _ = self.model.parse_losses(losses)
        total.backward()
        self.assertTrue(torch.isfinite(total), f'{dtype}: {losses}')
        return total

    def test_training_step_and_predict(self):
        self.train_step()
        if DEVICE == 'cuda':  # mmcv's CPU nms takes no half boxes
            self.train_step(torch.float16)
        self.model.eval()
        with torch.no_grad():
            data = self.model.data_preprocessor(self.batch, False)
            results = self.model(**data, mode='predict')
        for r in results:
            inst = r.pred_instances
            self.assertEqual(inst.bboxes.device.type, DEVICE)
            self.assertTrue(torch.isfinite(inst.scores).all())
            self.assertTrue(torch.isfinite(inst.bboxes).all())
