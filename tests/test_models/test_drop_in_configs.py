# Copyright (c) mmdet-causal contributors. All rights reserved.
"""A user's config that inherits mmdet's own config, adds ``custom_imports``
and changes nothing but the box heads' ``type`` trains (every stage's
moving average moves at the optimizer step) and predicts with TDE: mmdet's
detectors, RoI heads and runner pieces, unchanged."""
import os.path as osp
import tempfile
import unittest

import torch
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.optim import OptimWrapper

from mmdet_causal import CausalConvFCBBoxHead
from mmdet_causal.utils import causal_bbox_heads

CUSTOM_IMPORTS = ("custom_imports = dict(imports=['mmdet_causal'], "
                  'allow_failed_imports=False)\n')
# the user's whole config: mmdet's base, the plugin, the box heads' type
USER_CONFIGS = {
    'cascade':
    "_base_ = 'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py'\n" +
    CUSTOM_IMPORTS + 'model = dict(roi_head=dict(bbox_head=[\n'
    "    dict(head, type='Causal' + head.type)\n"
    '    for head in _base_.model.roi_head.bbox_head]))\n',
    'htc':
    "_base_ = 'mmdet::htc/htc-without-semantic_r50_fpn_1x_coco.py'\n" +
    CUSTOM_IMPORTS + 'model = dict(roi_head=dict(bbox_head=[\n'
    "    dict(head, type='Causal' + head.type)\n"
    '    for head in _base_.model.roi_head.bbox_head]))\n',
    'mask_rcnn':
    "_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'\n" +
    CUSTOM_IMPORTS +
    "model = dict(roi_head=dict(bbox_head=dict(type='CausalShared2FCBBoxHead'"
    ')))\n',
}
IMG = 128


class TestDropIn(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        register_all_modules()

    def load(self, name):
        with tempfile.TemporaryDirectory() as tmp:
            path = osp.join(tmp, f'{name}_causal.py')
            with open(path, 'w') as f:
                f.write(USER_CONFIGS[name])
            cfg = Config.fromfile(path)
        return cfg

    @staticmethod
    def smaller(cfg):
        """Fewer proposals and RoIs, and every score kept (an untrained
        model's are below the 0.05 threshold): the CPU test's settings,
        applied from outside the user's config."""
        train, test = cfg.model.train_cfg, cfg.model.test_cfg
        for rpn in (train.rpn_proposal, test.rpn):
            rpn.update(nms_pre=200, max_per_img=64)
        rcnn = train.rcnn if isinstance(train.rcnn, list) else [train.rcnn]
        for stage in rcnn:
            stage.sampler.num = 64
        test.rcnn.update(score_thr=0.0, max_per_img=20)

    def data(self, seed):
        torch.manual_seed(seed)
        return demo_mm_inputs(
            batch_size=1,
            image_shapes=[(3, IMG, IMG)],
            num_items=[4],
            num_classes=80,
            with_mask=True)

    def test_type_swap_trains_and_predicts_with_tde(self):
        for name in USER_CONFIGS:
            with self.subTest(config=name):
                cfg = self.load(name)
                # the RoI head is mmdet's own
                self.assertFalse(cfg.model.roi_head.type.startswith('Causal'))
                self.smaller(cfg)
                torch.manual_seed(0)
                model = MODELS.build(cfg.model)  # no pretrained backbone
                heads = causal_bbox_heads(model)
                self.assertEqual(len(heads), 1 if name == 'mask_rcnn' else 3)
                self.assertTrue(
                    all(isinstance(h, CausalConvFCBBoxHead) for h in heads))
                optim = OptimWrapper(
                    torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9))
                model.train()
                before = []
                for step in range(2):
                    losses = model.train_step(self.data(step), optim)
                    self.assertTrue(
                        all(torch.isfinite(v) for v in losses.values()))
                    # every stage's average moved at this step's optimizer
                    # step, and only there
                    embeds = [h.causal_embed.clone() for h in heads]
                    for stage, e in enumerate(embeds):
                        self.assertGreater(e.abs().sum().item(), 0)
                        if before:
                            self.assertFalse(
                                torch.equal(e, before[stage]), stage)
                    before = embeds
                model.eval()
                outs = {}
                for use_tde in (False, True):
                    for head in heads:
                        head.use_tde = use_tde
                    with torch.no_grad():
                        outs[use_tde] = model.test_step(self.data(5))
                plain, tde = (outs[k][0].pred_instances for k in (0, 1))
                self.assertGreater(len(tde), 0)
                self.assertIn('masks', tde)
                # TDE acted: other scores than the plain cosine classifier
                self.assertFalse(
                    len(plain) == len(tde)
                    and torch.equal(plain.scores, tde.scores))
                self.assertTrue(((tde.scores >= 0) & (tde.scores <= 1)).all())


if __name__ == '__main__':
    unittest.main()
