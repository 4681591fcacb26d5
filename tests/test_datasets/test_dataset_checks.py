# Copyright (c) mmdet-causal contributors. All rights reserved.
"""A file without annotations, or with annotations of unknown classes, is
named before a run spends its time on it, never answered with -1 APs."""
import json
import os.path as osp
import tempfile
import unittest
from types import SimpleNamespace

from mmdet.registry import DATASETS
from mmdet.utils import register_all_modules
from mmengine.logging import MMLogger

from mmdet_causal import ClassCountCheckHook
from mmdet_causal.datasets.dataset_checks import (check_annotations,
                                                  empty_dataset_error,
                                                  innermost_dataset_cfg)
from mmdet_causal.testing import TinyLVISSpec, generate_tiny_lvis

SPEC = TinyLVISSpec(train_images=12, val_images_per_class=1)


class TestDatasetChecks(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        register_all_modules()
        cls._tmp = tempfile.TemporaryDirectory()
        cls.root = cls._tmp.name
        paths = generate_tiny_lvis(cls.root, SPEC, write_images=False)
        with open(paths['train']) as f:
            cls.train = json.load(f)
        cls.known_ids = {c['id'] for c in cls.train['categories']}

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def write(self, name, **changes):
        data = dict(self.train, **changes)
        path = osp.join(self.root, name)
        with open(path, 'w') as f:
            json.dump(data, f)
        return path

    def dataset_cfg(self, ann_file, test_mode=True):
        return dict(
            type='LVISV1Dataset',
            data_root=self.root + '/',
            ann_file=ann_file,
            data_prefix=dict(img=''),
            test_mode=test_mode,
            filter_cfg=dict(filter_empty_gt=True),
            pipeline=[])

    def test_unknown_category_ids_are_counted_once(self):
        anns = [dict(a) for a in self.train['annotations']]
        stray = {max(self.known_ids) + 7: [0, 1, 2], 999: [5]}
        for cat, rows in stray.items():
            for i in rows:
                anns[i]['category_id'] = cat
        path = self.write('stray.json', annotations=anns)
        dataset = DATASETS.build(
            dict(
                type='ClassBalancedDataset',
                oversample_thr=0.1,
                dataset=self.dataset_cfg(path, test_mode=False)))
        # mmdet drops them: 4 fewer instances than annotations
        leaf = dataset.dataset
        loaded = sum(
            len(leaf.get_data_info(i)['instances']) for i in range(len(leaf)))
        self.assertEqual(loaded, len(anns) - 4)
        logger = MMLogger.get_current_instance()
        with self.assertLogs(logger, level='WARNING') as logs:
            check_annotations(dataset, 'train')
        (line, ) = [m for m in logs.output if 'dropped' in m]
        self.assertIn('4 annotations of 2 category ids', line)
        self.assertIn(f'[{max(self.known_ids) + 7}, 999]', line)
        self.assertIn('stray.json', line)

    def test_no_annotations_is_refused_unless_only_saving(self):
        path = self.write('empty.json', annotations=[])
        dataset = DATASETS.build(self.dataset_cfg(path))  # test mode loads
        self.assertGreater(len(dataset), 0)
        with self.assertRaises(ValueError) as ctx:
            check_annotations(dataset, 'test')
        self.assertIn('empty.json', str(ctx.exception))
        self.assertIn('no annotation of its', str(ctx.exception))
        self.assertIn('format_only=True', str(ctx.exception))
        check_annotations(dataset, 'test', format_only=True)

        # through the hook the tools add: the evaluator decides
        runner = SimpleNamespace(
            model=None, test_dataloader=SimpleNamespace(dataset=dataset))
        hook = ClassCountCheckHook()
        for metrics, refused in (([SimpleNamespace(format_only=False)], True),
                                 ([SimpleNamespace(format_only=True)],
                                  False), ([
                                      SimpleNamespace(format_only=True),
                                      SimpleNamespace()
                                  ], False)):
            runner.test_evaluator = SimpleNamespace(metrics=metrics)
            if refused:
                with self.assertRaises(ValueError):
                    hook._check(runner, dataset, 'test', runner.test_evaluator)
            else:  # the class-count part then finds no model heads
                runner.model = SimpleNamespace(named_modules=lambda: [])
                hook._check(runner, dataset, 'test', runner.test_evaluator)

    def test_training_set_left_empty_names_the_file(self):
        path = self.write('empty.json', annotations=[])
        cfg = dict(
            type='RepeatDataset',
            times=2,
            dataset=self.dataset_cfg(path, test_mode=False))
        with self.assertRaises(ValueError) as ctx:
            DATASETS.build(cfg)  # mmengine: nothing left to concatenate
        explained = empty_dataset_error(ctx.exception, cfg, 'train')
        self.assertIn("ann_file '" + path, str(explained))
        self.assertIn('no annotation of its categories', str(explained))
        self.assertIsNone(
            empty_dataset_error(ValueError('other'), cfg, 'train'))
        self.assertIs(innermost_dataset_cfg(cfg), cfg['dataset'])

    def test_a_sound_file_passes_silently(self):
        dataset = DATASETS.build(
            self.dataset_cfg(
                osp.join(self.root, 'annotations/lvis_v1_train.json')))
        logger = MMLogger.get_current_instance()
        with self.assertNoLogs(logger, level='WARNING'):
            check_annotations(dataset, 'test')


if __name__ == '__main__':
    unittest.main()
