# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Every config loads, builds on the CPU, and each causal config is its stock
twin with the heads swapped."""
import copy
import glob
import os.path as osp
import unittest

from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

import mmdet_causal  # noqa: F401
from mmdet_causal import CausalConvFCBBoxHead

CONFIGS = osp.join(osp.dirname(__file__), '..', 'configs')
CAUSAL_KEYS = ('num_heads', 'scale', 'gamma', 'momentum', 'alpha', 'use_tde',
               'background_exempt', 'sync_embed')
# causal config -> stock twin
TWINS = {
    'htc/htc-causal_r50_fpn_1x_lvis-v1.py': 'htc/htc_r50_fpn_1x_lvis-v1.py',
    'htc/htc-causal_r101_fpn_20e_lvis-v1.py':
    'htc/htc_r101_fpn_20e_lvis-v1.py',
    'cascade_rcnn/cascade-mask-rcnn-causal_r101_fpn_20e_lvis-v1.py':
    'cascade_rcnn/cascade-mask-rcnn_r101_fpn_20e_lvis-v1.py',
    'mask_rcnn/mask-rcnn-causal_r50_fpn_1x_lvis-v1.py':
    'mask_rcnn/mask-rcnn_r50_fpn_1x_lvis-v1.py',
    'tiny/htc-causal_r18_fpn_tiny-lvis.py': 'tiny/htc_r18_fpn_tiny-lvis.py',
    'tiny/htc-causal_r18_fpn_rfs_tiny-lvis.py':
    'tiny/htc_r18_fpn_rfs_tiny-lvis.py',
    'htc_causal_lvis.py': 'htc/htc_r50_fpn_1x_lvis-v1.py',
}
# the recommended recipe, causal + RFS, for every LVIS detector
LVIS_RFS = {
    'htc/htc-causal_r50_fpn_sample1e-3_1x_lvis-v1.py':
    'htc/htc_r50_fpn_sample1e-3_1x_lvis-v1.py',
    'htc/htc-causal_r101_fpn_sample1e-3_20e_lvis-v1.py':
    'htc/htc_r101_fpn_sample1e-3_20e_lvis-v1.py',
    'cascade_rcnn/cascade-mask-rcnn-causal_r101_fpn_sample1e-3_20e_lvis-v1.py':
    'cascade_rcnn/cascade-mask-rcnn_r101_fpn_sample1e-3_20e_lvis-v1.py',
    'mask_rcnn/mask-rcnn-causal_r50_fpn_sample1e-3_1x_lvis-v1.py':
    'mask_rcnn/mask-rcnn_r50_fpn_sample1e-3_1x_lvis-v1.py',
}
TWINS.update(LVIS_RFS)
# RFS config -> its plain-sampling twin, and the repeat-factor threshold
RFS = {
    'tiny/htc_r18_fpn_rfs_tiny-lvis.py':
    ('tiny/htc_r18_fpn_tiny-lvis.py', 100 / 192),
    'tiny/htc-causal_r18_fpn_rfs_tiny-lvis.py':
    ('tiny/htc-causal_r18_fpn_tiny-lvis.py', 100 / 192),
    'tiny/htc_r18_fpn_rfs_seesaw_tiny-lvis.py':
    ('tiny/htc_r18_fpn_seesaw_tiny-lvis.py', 100 / 192),
}
for causal_rfs, stock_rfs in LVIS_RFS.items():
    RFS[stock_rfs] = (stock_rfs.replace('_sample1e-3', ''), 1e-3)
    RFS[causal_rfs] = (causal_rfs.replace('_sample1e-3', ''), 1e-3)
# Seesaw config -> the stock config it changes the classifier of
SEESAW = {
    'tiny/htc_r18_fpn_seesaw_tiny-lvis.py': 'tiny/htc_r18_fpn_tiny-lvis.py',
}
for stock_rfs in LVIS_RFS.values():
    SEESAW[stock_rfs.replace('_sample1e-3', '_seesaw-loss_sample1e-3')] = (
        stock_rfs)


def all_configs():
    paths = glob.glob(osp.join(CONFIGS, '**', '*.py'), recursive=True)
    return sorted(osp.relpath(p, CONFIGS) for p in paths if '_base_' not in p)


def load(rel):
    return Config.fromfile(osp.join(CONFIGS, rel))


def as_list(heads):
    return list(heads) if isinstance(heads, list) else [heads]


def strip_causal(model_cfg):
    """The model config with the causal swaps undone."""
    model = copy.deepcopy(model_cfg.to_dict())
    roi = model['roi_head']
    roi['type'] = roi['type'].replace('Causal', '')
    for head in as_list(roi['bbox_head']):
        head['type'] = head['type'].replace('Causal', '')
        for key in CAUSAL_KEYS:
            head.pop(key, None)
    return model


class TestConfigs(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        register_all_modules()

    def test_every_config_is_covered(self):
        configs = set(all_configs())
        self.assertIn('htc_causal_lvis.py', configs)
        causal = {c for c in configs if 'causal' in c}
        self.assertEqual(causal, set(TWINS))

    def test_configs_load_and_build(self):
        # an RFS twin has its plain twin's model: build each model once
        built = {}
        for rel in all_configs():
            with self.subTest(config=rel):
                cfg = load(rel)
                key = repr(cfg.model.to_dict())
                if key not in built:
                    built[key] = MODELS.build(cfg.model)
                model = built[key]
                heads = model.roi_head.bbox_head
                heads = list(heads) if hasattr(heads, '__len__') else [heads]
                is_causal = [
                    isinstance(h, CausalConvFCBBoxHead) for h in heads
                ]
                if 'causal' in rel:
                    # every stage causal, and the labels reach them
                    self.assertTrue(all(is_causal), rel)
                    # mmdet's own RoI head (or, in the study's tiny
                    # config, its alias)
                    self.assertIn(
                        type(model.roi_head).__name__.replace('Causal', ''),
                        ('StandardRoIHead', 'CascadeRoIHead',
                         'HybridTaskCascadeRoIHead'))
                    if 'tiny' not in rel:
                        self.assertFalse(
                            type(model.roi_head).__name__.startswith('Causal'),
                            rel)
                    self.assertIn('mmdet_causal',
                                  cfg.custom_imports['imports'])
                else:
                    self.assertFalse(any(is_causal), rel)

    def test_causal_configs_differ_from_twins_only_in_heads(self):
        for causal, stock in TWINS.items():
            with self.subTest(config=causal):
                c, s = load(causal), load(stock)
                self.assertEqual(strip_causal(c.model), s.model.to_dict())
                for key in ('train_dataloader', 'test_dataloader',
                            'optim_wrapper', 'param_scheduler', 'train_cfg',
                            'test_evaluator'):
                    self.assertEqual(c[key], s[key], key)

    def test_rfs_configs_differ_from_plain_only_in_sampling(self):
        # the train set wrapped as mmdet's LVIS RFS configs do, nothing else
        # (the LVIS Seesaw + RFS configs are their stock + RFS twins with
        # another classifier, checked below)
        self.assertEqual(
            {
                c
                for c in all_configs()
                if ('rfs' in c or 'sample1e-3' in c) and c not in SEESAW
            }, set(RFS))
        for rfs, (plain, threshold) in RFS.items():
            with self.subTest(config=rfs):
                r, s = load(rfs).to_dict(), load(plain).to_dict()
                wrapped = r['train_dataloader'].pop('dataset')
                self.assertEqual(wrapped['type'], 'ClassBalancedDataset')
                self.assertAlmostEqual(wrapped['oversample_thr'], threshold)
                self.assertEqual(wrapped['dataset'],
                                 s['train_dataloader'].pop('dataset'))
                self.assertEqual(r, s)

    def test_seesaw_configs_differ_from_stock_only_in_classifier(self):
        self.assertEqual({c
                          for c in all_configs() if 'seesaw' in c},
                         set(SEESAW)
                         | {'tiny/htc_r18_fpn_rfs_seesaw_tiny-lvis.py'})
        for config, stock_config in SEESAW.items():
            with self.subTest(config=config):
                seesaw = load(config).to_dict()
                # the LVIS ones read their classifier from a base
                for key in ('seesaw_cls_predictor', 'seesaw_loss'):
                    seesaw.pop(key, None)
                stock = load(stock_config).to_dict()
                heads = as_list(seesaw['model']['roi_head']['bbox_head'])
                refs = as_list(stock['model']['roi_head']['bbox_head'])
                self.assertEqual(
                    len(heads), 1 if config.startswith('mask_rcnn/') else 3)
                for head, ref in zip(heads, refs):
                    self.assert_seesaw_head(head, ref)
                self.assertEqual(seesaw, stock)

    def assert_seesaw_head(self, head, ref):
        """Pop the Seesaw classifier and loss of ``head`` (mmdet's LVIS
        settings) and ``ref``'s loss, leaving what must be equal."""
        predictor = head.pop('cls_predictor_cfg')
        self.assertEqual(predictor, dict(type='NormedLinear'))
        # mmdet's LVIS temperature, under either line's spelling
        layer = MODELS.build(dict(predictor, in_features=4, out_features=3))
        self.assertEqual(
            getattr(layer, 'temperature', getattr(layer, 'tempearture', None)),
            20)
        self.assertEqual(
            head.pop('loss_cls'),
            dict(
                type='SeesawLoss',
                p=0.8,
                q=2.0,
                num_classes=ref['num_classes'],
                loss_weight=1.0))
        ref.pop('loss_cls')

    def test_readme_lists_every_lvis_config(self):
        # the tiny configs are the study's (docs/long_tail_study.md)
        with open(osp.join(CONFIGS, '..', 'README.md')) as f:
            readme = f.read()
        for rel in all_configs():
            if not rel.startswith('tiny/'):
                self.assertIn(f'`configs/{rel}`', readme)

    def test_published_defaults_and_lvis_settings(self):
        cfg = load('htc_causal_lvis.py')
        for head in cfg.model.roi_head.bbox_head:
            self.assertEqual(head.type, 'CausalShared4Conv1FCBBoxHead')
            self.assertEqual(head.num_classes, 1203)
            self.assertEqual({k: head[k]
                              for k in CAUSAL_KEYS},
                             dict(
                                 num_heads=2,
                                 scale=16.0,
                                 gamma=1 / 32,
                                 momentum=0.9998,
                                 alpha=1.5,
                                 use_tde=True,
                                 background_exempt=True,
                                 sync_embed=True))
        self.assertEqual(len(cfg.model.roi_head.bbox_head), 3)
        self.assertNotIn('semantic_head', cfg.model.roi_head)
        self.assertLessEqual(cfg.model.test_cfg.rcnn.score_thr, 1e-4)
        self.assertEqual(cfg.model.test_cfg.rcnn.max_per_img, 300)
        self.assertEqual(cfg.test_evaluator.metric, ['bbox', 'segm'])
        self.assertIn('LVIS', cfg.test_evaluator.type)
        self.assertEqual(cfg.train_dataloader.dataset.type, 'LVISV1Dataset')
        self.assertEqual(cfg.optim_wrapper.optimizer.lr, 0.02)
        self.assertEqual(cfg.train_dataloader.batch_size, 2)
        self.assertEqual(cfg.auto_scale_lr.base_batch_size, 16)
        r101 = load('htc/htc-causal_r101_fpn_20e_lvis-v1.py')
        self.assertEqual(r101.model.backbone.depth, 101)
        self.assertEqual(r101.train_cfg.max_epochs, 20)


if __name__ == '__main__':
    unittest.main()
