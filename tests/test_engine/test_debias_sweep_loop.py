# Copyright (c) mmdet-causal contributors. All rights reserved.
"""DebiasSweepTestLoop's set-up: what it builds per strength and the errors
that come before any inference (the sweep itself is tested end to end in
tests/test_tools/test_train_test_tools.py)."""
import copy
import os.path as osp
import tempfile
import unittest

from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.runner import Runner

import mmdet_causal  # noqa: F401
from mmdet_causal import DebiasSweepTestLoop
from mmdet_causal.testing import TinyLVISSpec, generate_tiny_lvis

ROOT = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..')
CAUSAL = osp.join(ROOT, 'configs', 'tiny', 'htc-causal_r18_fpn_tiny-lvis.py')


class TestDebiasSweepTestLoop(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        register_all_modules()
        cls._tmp = tempfile.TemporaryDirectory()
        cls.data = osp.join(cls._tmp.name, 'data')
        generate_tiny_lvis(
            cls.data,
            TinyLVISSpec(train_images=40, val_images_per_class=1),
            write_images=False)
        cfg = Config.fromfile(CAUSAL)
        cfg.model.backbone.init_cfg = None
        cfg.work_dir = osp.join(cls._tmp.name, 'work')
        for split in ('train', 'val', 'test'):
            cfg[f'{split}_dataloader'].dataset.data_root = cls.data + '/'
            cfg[f'{split}_dataloader'].num_workers = 0
            cfg[f'{split}_dataloader'].persistent_workers = False
        for split in ('val', 'test'):
            cfg[f'{split}_evaluator'].ann_file = \
                f'{cls.data}/annotations/lvis_v1_val.json'
        cfg.test_evaluator.metric = ['bbox']
        cls.runner = Runner.from_cfg(cfg)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def loop(self, **kwargs):
        cfg = self.runner.cfg
        return DebiasSweepTestLoop(
            self.runner,
            copy.deepcopy(cfg.test_dataloader),
            copy.deepcopy(cfg.test_evaluator),
            alphas=[0.0, 1.0],
            **kwargs)

    def test_one_evaluator_per_strength_ground_truth_shared(self):
        loop = self.loop(norcal_gammas=[0.0, 0.5])
        self.assertEqual(len(loop.evaluators), 4)
        metrics = [e.metrics[0] for e in loop.evaluators.values()]
        self.assertEqual(len({id(m) for m in metrics}), 4)
        self.assertEqual(len({id(m._lvis_api) for m in metrics}), 1)
        self.assertIs(loop.evaluators[loop.settings[0]], loop.evaluator)

    def test_selection_file_under_data_root(self):
        loop = self.loop(select_on='annotations/lvis_v1_heldout.json')
        expected = osp.abspath(
            osp.join(self.data, 'annotations', 'lvis_v1_heldout.json'))
        self.assertEqual(loop.select_dataloader.dataset.ann_file, expected)
        for evaluator in loop.select_evaluators.values():
            self.assertEqual(evaluator.metrics[0].ann_file, expected)
        with self.assertRaisesRegex(FileNotFoundError, 'lvis_heldout_split'):
            self.loop(select_on='annotations/nothing.json')

    def test_select_metric_checked_before_inference(self):
        with self.assertRaisesRegex(ValueError, r'--eval \.\.\. segm'):
            self.loop(
                select_on='annotations/lvis_v1_heldout.json',
                select_metric='segm_AP')

    def test_output_files_named_per_strength(self):
        evaluator = copy.deepcopy(self.runner.cfg.test_evaluator)
        evaluator.outfile_prefix = osp.join(self._tmp.name, 'results')
        loop = DebiasSweepTestLoop(
            self.runner,
            copy.deepcopy(self.runner.cfg.test_dataloader),
            evaluator,
            alphas=[0.0, 1.0])
        prefixes = [
            e.metrics[0].outfile_prefix for e in loop.evaluators.values()
        ]
        self.assertEqual(prefixes, [
            osp.join(self._tmp.name, 'results_test_alpha=0'),
            osp.join(self._tmp.name, 'results_test_alpha=1')
        ])

    def test_built_evaluator_without_a_config_is_named(self):
        built = self.runner.build_evaluator(
            copy.deepcopy(self.runner.cfg.test_evaluator))
        cfg = self.runner.cfg
        self.runner.cfg = Config(dict())  # a Runner built from objects
        try:
            with self.assertRaisesRegex(ValueError, 'as a config'):
                DebiasSweepTestLoop(
                    self.runner,
                    copy.deepcopy(cfg.test_dataloader),
                    built,
                    alphas=[0.0, 1.0])
        finally:
            self.runner.cfg = cfg


if __name__ == '__main__':
    unittest.main()
