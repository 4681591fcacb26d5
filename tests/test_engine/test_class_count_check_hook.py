# Copyright (c) mmdet-causal contributors. All rights reserved.
"""A config whose num_classes differs from the dataset's fails before the
first iteration, naming every head and the fix."""
import os.path as osp
import unittest
from types import SimpleNamespace

from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

from mmdet_causal import ClassCountCheckHook
from mmdet_causal.utils import add_custom_hooks

CONFIG = osp.join(
    osp.dirname(__file__), '..', '..', 'configs', 'tiny',
    'htc-causal_r18_fpn_tiny-lvis.py')


def fake_runner(model, num_classes):
    dataset = SimpleNamespace(
        metainfo=dict(classes=tuple(f'c{i}' for i in range(num_classes))))
    loader = SimpleNamespace(dataset=dataset)
    return SimpleNamespace(
        model=model,
        train_dataloader=loader,
        val_dataloader=loader,
        test_dataloader=loader)


class TestClassCountCheckHook(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        register_all_modules()
        cls.cfg = Config.fromfile(CONFIG)
        cls.model = MODELS.build(cls.cfg.model)  # 16 classes

    def test_matching_counts_pass(self):
        hook = ClassCountCheckHook()
        runner = fake_runner(self.model, 16)
        hook.before_train(runner)
        hook.before_val(runner)
        hook.before_test(runner)

    def test_mismatch_names_heads_and_fix(self):
        hook = ClassCountCheckHook()
        runner = fake_runner(self.model, 20)
        for stage in (hook.before_train, hook.before_val, hook.before_test):
            with self.assertRaises(ValueError) as ctx:
                stage(runner)
            msg = str(ctx.exception)
            self.assertIn('has 20 classes', msg)
            self.assertIn('num_classes=20', msg)
            # every box and mask head, not the RPN or the semantic head
            for i in range(3):
                self.assertIn(f'roi_head.bbox_head.{i} (16)', msg)
                self.assertIn(f'roi_head.mask_head.{i} (16)', msg)
            self.assertNotIn('rpn_head', msg)

    def test_tools_add_it_once(self):
        cfg = Config(dict(custom_hooks=[dict(type='EMAHook')]))
        add_custom_hooks(cfg, 'ClassCountCheckHook')
        add_custom_hooks(cfg, 'ClassCountCheckHook', 'EMAHook')
        types = [h['type'] for h in cfg.custom_hooks]
        self.assertEqual(types, ['EMAHook', 'ClassCountCheckHook'])
        cfg = Config(dict(custom_hooks=[dict(type=ClassCountCheckHook)]))
        add_custom_hooks(cfg, 'ClassCountCheckHook')
        self.assertEqual(len(cfg.custom_hooks), 1)  # a class counts too
        cfg = Config(dict())
        add_custom_hooks(cfg, 'ClassCountCheckHook')
        self.assertEqual(cfg.custom_hooks, [dict(type='ClassCountCheckHook')])


if __name__ == '__main__':
    unittest.main()
