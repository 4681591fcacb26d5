# Copyright (c) mmdet-causal contributors. All rights reserved.
import collections
import hashlib
import json
import os
import os.path as osp
import tempfile
import unittest
from collections import defaultdict

import numpy as np
from lvis import LVIS

from mmdet_causal.testing import (PRESETS, TinyLVISSpec, frequency_groups,
                                  generate_tiny_lvis)

SMALL = TinyLVISSpec(num_classes=8, train_images=40, val_images_per_class=2)


def digest(root):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            with open(osp.join(dirpath, name), 'rb') as f:
                h.update(name.encode() + f.read())
    return h.hexdigest()


class TestTinyLVIS(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.root = osp.join(cls.tmp.name, 'a')
        cls.paths = generate_tiny_lvis(cls.root, SMALL)
        with open(cls.paths['train']) as f:
            cls.train = json.load(f)
        with open(cls.paths['val']) as f:
            cls.val = json.load(f)
        with open(cls.paths['heldout']) as f:
            cls.heldout = json.load(f)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_deterministic_and_seeded(self):
        other = osp.join(self.tmp.name, 'b')
        generate_tiny_lvis(other, SMALL)
        self.assertEqual(digest(self.root), digest(other))
        third = osp.join(self.tmp.name, 'c')
        generate_tiny_lvis(third, TinyLVISSpec(**{
            **SMALL.__dict__, 'seed': 1
        }))
        self.assertNotEqual(digest(self.root), digest(third))

    def test_idempotent(self):
        mtimes = {
            split: os.stat(path).st_mtime_ns
            for split, path in self.paths.items()
        }
        self.assertEqual(sorted(mtimes), ['heldout', 'train', 'val'])
        generate_tiny_lvis(self.root, SMALL)
        for split, path in self.paths.items():
            self.assertEqual(os.stat(path).st_mtime_ns, mtimes[split])
        # a missing held-out file (a dataset of generator 2) regenerates
        os.remove(self.paths['heldout'])
        generate_tiny_lvis(self.root, SMALL)
        with open(self.paths['heldout']) as f:
            self.assertEqual(json.load(f), self.heldout)

    def test_older_generator_output_is_regenerated(self):
        from mmdet_causal.testing import tiny_lvis
        root = osp.join(self.tmp.name, 'old')
        paths = generate_tiny_lvis(root, SMALL, write_images=False)
        spec_file = osp.join(root, 'annotations', 'spec.json')
        with open(spec_file) as f:
            record = json.load(f)
        self.assertEqual(record['generator_version'],
                         tiny_lvis.GENERATOR_VERSION)
        # as an older generator left it: same spec, other version, other data
        record['generator_version'] -= 1
        with open(spec_file, 'w') as f:
            json.dump(record, f)
        with open(paths['train'], 'w') as f:
            f.write('{}')
        generate_tiny_lvis(root, SMALL, write_images=False)
        with open(paths['train']) as f:
            self.assertEqual(json.load(f), self.train)

    def test_a_dataset_from_before_class_grid_is_not_rewritten(self):
        # the default grid is recorded as before the field existed, so a
        # dataset made then (the running study's) is up to date
        from dataclasses import replace
        root = osp.join(self.tmp.name, 'grid')
        paths = generate_tiny_lvis(root, SMALL, write_images=False)
        spec_file = osp.join(root, 'annotations', 'spec.json')
        with open(spec_file) as f:
            self.assertNotIn('class_grid', json.load(f))
        mtime = os.stat(paths['train']).st_mtime_ns
        # another grid is another dataset
        generate_tiny_lvis(
            root, replace(SMALL, class_grid='rows'), write_images=False)
        with open(spec_file) as f:
            self.assertEqual(json.load(f)['class_grid'], 'rows')
        self.assertNotEqual(os.stat(paths['train']).st_mtime_ns, mtime)

    def test_lvis_api_loads_and_fields(self):
        for split in ('train', 'heldout', 'val'):
            api = LVIS(self.paths[split])
            self.assertEqual(len(api.get_cat_ids()), SMALL.num_classes)
        for img in (self.train['images'] + self.heldout['images'] +
                    self.val['images']):
            for key in ('neg_category_ids', 'not_exhaustive_category_ids',
                        'coco_url', 'width', 'height'):
                self.assertIn(key, img)
            path = osp.join(self.root,
                            img['coco_url'].split('cocodataset.org/')[1])
            self.assertTrue(osp.exists(path), path)

    def test_frequency_groups_follow_train_image_counts(self):
        """The groups are those of all train images drawn (the official
        LVIS train), held-out ones included, in every file; each file
        counts images and instances from its own annotations, val carries
        the official counts."""

        def recount(anns):
            images, instances = defaultdict(set), defaultdict(int)
            for ann in anns:
                images[ann['category_id']].add(ann['image_id'])
                instances[ann['category_id']] += 1
            return {c: (len(images[c]), instances[c]) for c in images}

        official = recount(self.train['annotations'] +
                           self.heldout['annotations'])
        for data, counts in ((self.train, recount(self.train['annotations'])),
                             (self.heldout,
                              recount(self.heldout['annotations'])),
                             (self.val, official)):
            self.assertEqual([c['id'] for c in data['categories']],
                             list(range(1, SMALL.num_classes + 1)))
            for cat in data['categories']:
                n = official.get(cat['id'], (0, 0))[0]
                expected = 'r' if n <= 10 else 'c' if n <= 100 else 'f'
                self.assertEqual(cat['frequency'], expected)
                self.assertEqual((cat['image_count'], cat['instance_count']),
                                 counts.get(cat['id'], (0, 0)))
        groups = frequency_groups(self.paths['val'])
        self.assertEqual(sum(map(len, groups.values())), SMALL.num_classes)
        self.assertEqual(frequency_groups(self.paths['train']), groups)
        self.assertEqual(frequency_groups(self.paths['heldout']), groups)

    def test_heldout_split(self):
        """A fifth of round(40 / 0.8) = 50 train images drawn, carved with
        carve_heldout_split (tested in tests/test_datasets), stored beside
        the train images."""
        self.assertEqual(SMALL.heldout_fraction, 0.2)
        train_ids = [img['id'] for img in self.train['images']]
        held_ids = [img['id'] for img in self.heldout['images']]
        self.assertEqual(sorted(train_ids + held_ids), list(range(1, 51)))
        self.assertEqual(len(held_ids), 10)
        self.assertEqual(len(train_ids), SMALL.train_images)
        for img in self.heldout['images']:
            self.assertTrue(
                img['coco_url'].endswith(f'/train2017/{img["id"]:012d}.png'))
        held = set(held_ids)
        self.assertTrue(
            all(a['image_id'] in held for a in self.heldout['annotations']))
        self.assertFalse(
            any(a['image_id'] in held for a in self.train['annotations']))
        note = self.heldout['info']['heldout_split']
        self.assertEqual((note['fraction'], note['seed']), (0.2, SMALL.seed))

    def test_train_long_tailed_val_balanced(self):
        counts = sorted((c['image_count'] for c in self.train['categories']),
                        reverse=True)
        self.assertGreater(counts[0], 4 * max(counts[-1], 1))
        per_class = defaultdict(set)
        for ann in self.val['annotations']:
            per_class[ann['category_id']].add(ann['image_id'])
        # every class in about val_images_per_class images (an instance may
        # be dropped when it found no free place, or left unannotated)
        for cat_id in range(1, SMALL.num_classes + 1):
            self.assertGreaterEqual(len(per_class[cat_id]), 1)
            self.assertLessEqual(
                len(per_class[cat_id]), SMALL.val_images_per_class)

    def test_annotations_are_consistent(self):
        for data in (self.train, self.heldout, self.val):
            present = defaultdict(set)
            for ann in data['annotations']:
                present[ann['image_id']].add(ann['category_id'])
                poly = np.asarray(ann['segmentation'][0]).reshape(-1, 2)
                x, y, w, h = ann['bbox']
                self.assertAlmostEqual(poly[:, 0].min(), x, delta=0.02)
                self.assertAlmostEqual(poly[:, 1].max(), y + h, delta=0.02)
                self.assertGreater(ann['area'], 0)
                self.assertLessEqual(ann['area'], w * h + 1e-6)
                self.assertTrue((poly >= 0).all())
                self.assertTrue((poly <= SMALL.image_size).all())
            for img in data['images']:
                neg = set(img['neg_category_ids'])
                self.assertFalse(neg & present[img['id']])
                self.assertLessEqual(
                    set(img['not_exhaustive_category_ids']),
                    present[img['id']])

    def test_every_class_has_a_train_instance(self):
        """LVIS's rare group is 1-10 train images, never 0; the long-tail
        preset's Zipf draw misses some classes and must be repaired."""
        with tempfile.TemporaryDirectory() as tmp:
            paths = generate_tiny_lvis(
                tmp, PRESETS['longtail'], write_images=False)
            with open(paths['train']) as f:
                cats = json.load(f)['categories']
        counts = sorted(c['instance_count'] for c in cats)
        self.assertGreaterEqual(counts[0], 1)
        self.assertGreaterEqual(counts[-1] / counts[0], 300)  # ~3 decades
        self.assertGreaterEqual(
            sum(c['frequency'] == 'r' for c in cats),
            len(cats) // 2)

    def test_second_long_tail_set_differs_where_long_tails_care(self):
        """The second set's statistics, counted from its files against the
        study's set: a flatter tail, more and smaller objects per image,
        more classes per shape (the numbers docs/long_tail_study.md gives).
        """

        def statistics(preset):
            with tempfile.TemporaryDirectory() as tmp:
                paths = generate_tiny_lvis(
                    tmp, PRESETS[preset], write_images=False)
                splits = {}
                for split in ('train', 'heldout', 'val'):
                    with open(paths[split]) as f:
                        splits[split] = json.load(f)
            # the groups come from every drawn train image, held-out ones
            # included (LVIS's thresholds: <= 10, <= 100 images)
            images = collections.defaultdict(set)
            for split in ('train', 'heldout'):
                for ann in splits[split]['annotations']:
                    images[ann['category_id']].add(ann['image_id'])
            cats = splits['train']['categories']
            groups = collections.Counter(
                'r' if len(images[c['id']]) <=
                10 else 'c' if len(images[c['id']]) <= 100 else 'f'
                for c in cats)
            self.assertEqual(groups,
                             collections.Counter(c['frequency'] for c in cats))
            train = splits['train']
            shapes = collections.Counter(c['name'].split('_')[1] for c in cats)
            return dict(
                groups=dict(groups),
                images={
                    s: len(d['images'])
                    for s, d in splits.items()
                },
                per_image=round(
                    len(train['annotations']) / len(train['images']), 1),
                median_area=round(
                    float(
                        np.median([a['area'] for a in train['annotations']]))),
                per_shape=sorted(set(shapes.values())))

        self.assertEqual(
            statistics('longtail'),
            dict(
                groups=dict(r=36, c=9, f=3),
                images=dict(train=600, heldout=150, val=151),
                per_image=2.5,
                median_area=857,
                per_shape=[6]))
        self.assertEqual(
            statistics('longtail2'),
            dict(
                groups=dict(r=17, c=25, f=6),
                images=dict(train=600, heldout=150, val=95),
                per_image=4.1,
                median_area=336,
                per_shape=[8]))

    def test_cover_every_class(self):
        from mmdet_causal.testing.tiny_lvis import _cover_every_class
        drawn = [[0, 0], [0, 1], [0], [1]]
        covered = _cover_every_class(drawn, 4)
        self.assertEqual(drawn, [[0, 0], [0, 1], [0], [1]])  # not mutated
        # each missing class takes the place of an object of the most
        # frequent class, first in an image not changed before
        self.assertEqual(covered, [[2, 0], [3, 1], [0], [1]])
        self.assertEqual([len(c) for c in covered], [len(c) for c in drawn])
        # a draw that covers every class is left as it is
        self.assertEqual(_cover_every_class(covered, 4), covered)
        # too few objects to go round: as many classes as possible, a
        # warning, and no class emptied to fill another
        with self.assertWarnsRegex(UserWarning, '1 of 4 classes have no'):
            self.assertEqual(
                _cover_every_class([[0, 0], [1]], 4), [[2, 0], [1]])

    def test_presets_and_validation(self):
        self.assertGreaterEqual(PRESETS['longtail'].num_classes, 40)
        with self.assertRaisesRegex(ValueError, 'num_classes'):
            TinyLVISSpec(num_classes=0)
        with self.assertRaisesRegex(ValueError, 'min_object'):
            TinyLVISSpec(min_object=0.5, max_object=0.2)
        with self.assertRaisesRegex(ValueError, "'diagonal' or 'rows'"):
            TinyLVISSpec(class_grid='columns')

    def test_tiny_config_class_names_match_generator(self):
        from mmengine.config import Config

        from mmdet_causal.testing.tiny_lvis import class_names
        cfg = Config.fromfile(
            osp.join(
                osp.dirname(__file__), '..', '..', 'configs', 'tiny',
                'htc_r18_fpn_tiny-lvis.py'))
        self.assertEqual(list(cfg.classes), class_names(PRESETS['tiny']))
        self.assertEqual(cfg.num_classes, PRESETS['tiny'].num_classes)


if __name__ == '__main__':
    unittest.main()
