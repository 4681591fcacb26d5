# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The training set's class counts (NorCal's N_c) travel with checkpoints,
counted as a plain recount of the annotation file says, each image once
under repeat-factor sampling."""
import json
import tempfile
import unittest
from types import SimpleNamespace

from mmdet.registry import DATASETS
from mmdet.utils import register_all_modules
from mmengine.logging import MessageHub

from mmdet_causal import TrainClassCountsHook
from mmdet_causal.testing import TinyLVISSpec, generate_tiny_lvis
from mmdet_causal.utils.class_counts import (counts_from_dataset,
                                             counts_from_lvis_json,
                                             select_counts)

SPEC = TinyLVISSpec(train_images=24, val_images_per_class=1)


def recount(ann_file):
    """Instances and images per category, in file order, by hand."""
    with open(ann_file) as f:
        data = json.load(f)
    names = [c['name'] for c in data['categories']]
    instances = {c['id']: 0 for c in data['categories']}
    images = {c['id']: set() for c in data['categories']}
    for ann in data['annotations']:
        instances[ann['category_id']] += 1
        images[ann['category_id']].add(ann['image_id'])
    ids = [c['id'] for c in data['categories']]
    return names, [instances[i] for i in ids], [len(images[i]) for i in ids]


class TestClassCounts(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        register_all_modules()
        cls._tmp = tempfile.TemporaryDirectory()
        cls.paths = generate_tiny_lvis(cls._tmp.name, SPEC, write_images=False)
        cls.names, cls.instances, cls.images = recount(cls.paths['train'])

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def dataset(self, wrap=False):
        cfg = dict(
            type='LVISV1Dataset',
            data_root=self._tmp.name + '/',
            ann_file='annotations/lvis_v1_train.json',
            data_prefix=dict(img=''),
            metainfo=dict(classes=tuple(self.names)),
            pipeline=[])
        if wrap:  # RFS: rare images repeated
            cfg = dict(
                type='ClassBalancedDataset', oversample_thr=0.5, dataset=cfg)
        return DATASETS.build(cfg)

    def test_from_the_annotation_file(self):
        record = counts_from_lvis_json(self.paths['train'])
        self.assertEqual(record['classes'], self.names)
        self.assertEqual(record['instance_count'], self.instances)
        self.assertEqual(record['image_count'], self.images)

    def test_from_the_dataset_under_rfs(self):
        wrapped = self.dataset(wrap=True)
        self.assertGreater(len(wrapped), len(self.dataset()))  # repeats
        for dataset in (self.dataset(), wrapped):
            record = counts_from_dataset(dataset)
            self.assertEqual(record['classes'], self.names)
            self.assertEqual(record['instance_count'], self.instances)
            self.assertEqual(record['image_count'], self.images)

    def test_hook_saves_and_publishes(self):
        hook = TrainClassCountsHook()
        runner = SimpleNamespace(
            train_dataloader=SimpleNamespace(dataset=self.dataset()),
            message_hub=MessageHub.get_instance('test_class_counts'))
        hook.before_train(runner)
        checkpoint = {'meta': {'epoch': 1}}
        hook.before_save_checkpoint(runner, checkpoint)
        self.assertEqual(checkpoint['meta']['epoch'], 1)  # nothing lost
        self.assertEqual(checkpoint['meta']['class_counts']['instance_count'],
                         self.instances)
        fresh = TrainClassCountsHook()
        fresh.after_load_checkpoint(runner, checkpoint)
        self.assertEqual(
            runner.message_hub.get_info('class_counts')['image_count'],
            self.images)

    def test_select_counts_checks_the_classes(self):
        record = counts_from_lvis_json(self.paths['train'])
        self.assertEqual(
            select_counts(record, 'image_count', self.names), self.images)
        with self.assertRaisesRegex(ValueError, 'training set of this model'):
            select_counts(record, 'instance_count', self.names[:-1])
        with self.assertRaisesRegex(ValueError, 'count must be one of'):
            select_counts(record, 'box_count')
        # another order of the same classes: taken by name
        reordered = dict(
            classes=record['classes'][::-1],
            instance_count=record['instance_count'][::-1])
        self.assertEqual(
            select_counts(reordered, 'instance_count', self.names),
            self.instances)
        with self.assertRaisesRegex(ValueError, 'has no image_count'):
            select_counts(reordered, 'image_count', self.names)
        renamed = dict(record, classes=['x'] + self.names[1:])
        with self.assertRaisesRegex(ValueError, 'not those of the test'):
            select_counts(renamed, 'instance_count', self.names)


if __name__ == '__main__':
    unittest.main()
