# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The held-out split carved from LVIS train: on a hand-made LVIS dict, on
the generated tiny LVIS, through the CLI and through mmdet's
``LVISV1Dataset``; numbers against plain recounts written here."""
import copy
import json
import os.path as osp
import re
import subprocess
import sys
import tempfile
import unittest

import numpy as np

from mmdet_causal.datasets import carve_heldout_split, split_statistics
from mmdet_causal.testing import (PRESETS, TinyLVISSpec, class_names,
                                  generate_tiny_lvis)

ROOT = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..')
CLI = osp.join(ROOT, 'tools', 'dataset_converters', 'lvis_heldout_split.py')

# categories of each image, by image position; 19-21 hold no annotation
IMAGE_CATS = [[1], [1, 2], [1], [1, 2], [1, 3], [1], [2], [1, 2],
              [1], [1, 2, 3], [1], [2], [1], [1, 4], [2, 3], [1], [1], [1, 2],
              [], [], [], [1], [2], [1]]
FREQUENCY = {1: 'f', 2: 'c', 3: 'r', 4: 'r'}


def make_lvis():
    """24 images with scattered ids, listed out of id order; category 1 in
    most images (twice in every other one), 3 in three, 4 in one. The
    counts in ``categories`` are deliberately wrong: they must be
    recomputed, never copied."""
    ids = [100 + 7 * i for i in range(len(IMAGE_CATS))]
    images, annotations = [], []
    for i, cats in enumerate(IMAGE_CATS):
        images.append(
            dict(
                id=ids[i],
                coco_url=f'http://images.cocodataset.org/train2017/'
                f'{ids[i]:012d}.jpg',
                neg_category_ids=[c for c in FREQUENCY if c not in cats][:1],
                not_exhaustive_category_ids=cats[:1]))
        for c in cats:
            for _ in range(2 if c == 1 and i % 2 == 0 else 1):
                annotations.append(
                    dict(
                        id=len(annotations) + 1,
                        image_id=ids[i],
                        category_id=c,
                        bbox=[0, 0, 1, 1],
                        area=1.0))
    order = np.random.RandomState(42).permutation(len(images))
    categories = [
        dict(
            id=c,
            name=f'cat{c}',
            frequency=f,
            image_count=999,
            instance_count=999) for c, f in FREQUENCY.items()
    ]
    return dict(
        info=dict(description='hand-made'),
        licenses=[dict(id=1, name='x', url='')],
        images=[images[k] for k in order],
        annotations=annotations,
        categories=categories)


def reference_heldout_ids(lvis, fraction, seed, min_train_images):
    """The documented rule, walked plainly."""
    ids = sorted(img['id'] for img in lvis['images'])
    cats_of = {i: set() for i in ids}
    for ann in lvis['annotations']:
        cats_of[ann['image_id']].add(ann['category_id'])
    n_images = {}
    for i in ids:
        for c in cats_of[i]:
            n_images[c] = n_images.get(c, 0) + 1
    taken = {c: 0 for c in n_images}
    held = []
    for k in np.random.RandomState(seed).permutation(len(ids)):
        if len(held) == round(fraction * len(ids)):
            break
        ok = True
        for c in cats_of[ids[k]]:
            if taken[c] + 1 > round(fraction * n_images[c]):
                ok = False
            if n_images[c] - taken[c] - 1 < min_train_images:
                ok = False
        if ok:
            held.append(ids[k])
            for c in cats_of[ids[k]]:
                taken[c] += 1
    return set(held)


def heldout_ids(split):
    return frozenset(img['id'] for img in split['images'])


def recount(lvis):
    """{category id: (images, instances)} counted from the annotations."""
    counts = {cat['id']: (set(), []) for cat in lvis['categories']}
    for ann in lvis['annotations']:
        counts[ann['category_id']][0].add(ann['image_id'])
        counts[ann['category_id']][1].append(ann['id'])
    return {c: (len(imgs), len(anns)) for c, (imgs, anns) in counts.items()}


class SplitChecks:
    """What every carved split must satisfy."""

    def check_split(self, lvis, rest, heldout, fraction, min_train_images):
        ids = [img['id'] for img in lvis['images']]
        rest_ids = {img['id'] for img in rest['images']}
        held_ids = {img['id'] for img in heldout['images']}
        # whole images, partitioned
        self.assertFalse(rest_ids & held_ids)
        self.assertEqual(rest_ids | held_ids, set(ids))
        self.assertEqual(
            len(rest['images']) + len(heldout['images']), len(ids))
        self.assertLessEqual(len(held_ids), round(fraction * len(ids)))
        # annotations follow their images, none lost, none duplicated
        for split, split_ids in ((rest, rest_ids), (heldout, held_ids)):
            self.assertTrue(
                all(a['image_id'] in split_ids for a in split['annotations']))
        self.assertEqual(
            sorted(a['id']
                   for a in rest['annotations'] + heldout['annotations']),
            sorted(a['id'] for a in lvis['annotations']))
        # per-category limits against the input's plain recount
        full, rest_n, held_n = recount(lvis), recount(rest), recount(heldout)
        for c, (n_images, n_instances) in full.items():
            self.assertLessEqual(held_n[c][0], round(fraction * n_images))
            # a category with fewer images lends none
            self.assertGreaterEqual(rest_n[c][0],
                                    min(min_train_images, n_images))
            self.assertEqual(rest_n[c][0] + held_n[c][0], n_images)
            self.assertEqual(rest_n[c][1] + held_n[c][1], n_instances)
        # frequency kept from the input, counts recomputed per output
        freq = {cat['id']: cat['frequency'] for cat in lvis['categories']}
        for split, counts in ((rest, rest_n), (heldout, held_n)):
            self.assertEqual([c['id'] for c in split['categories']],
                             [c['id'] for c in lvis['categories']])
            for cat in split['categories']:
                self.assertEqual(cat['frequency'], freq[cat['id']])
                self.assertEqual((cat['image_count'], cat['instance_count']),
                                 counts[cat['id']])
        # per-image LVIS fields as they were
        by_id = {img['id']: img for img in lvis['images']}
        for img in rest['images'] + heldout['images']:
            self.assertEqual(img, by_id[img['id']])


class TestCarveHandMade(SplitChecks, unittest.TestCase):

    def test_split_against_the_plain_rule(self):
        lvis = make_lvis()
        before = copy.deepcopy(lvis)
        for fraction, seed, min_train in ((0.25, 0, 1), (0.5, 3, 1),
                                          (0.5, 1, 2), (0.1, 7, 1)):
            rest, heldout = carve_heldout_split(lvis, fraction, seed,
                                                min_train)
            self.check_split(lvis, rest, heldout, fraction, min_train)
            self.assertEqual(
                heldout_ids(heldout),
                reference_heldout_ids(lvis, fraction, seed, min_train))
            note = heldout['info']['heldout_split']
            self.assertEqual(note['target_heldout_images'],
                             round(fraction * 24))
            self.assertEqual(note['heldout_images'], len(heldout['images']))
            self.assertEqual((note['fraction'], note['seed'], note['split']),
                             (fraction, seed, 'heldout'))
            self.assertEqual(rest['info']['heldout_split']['split'],
                             'train_rest')
            self.assertEqual(rest['info']['description'], 'hand-made')
        self.assertEqual(lvis, before)  # the input is not changed

    def test_numbers_worked_by_hand(self):
        lvis = make_lvis()
        # category 1: 17 images, 2: 9, 3: 3, 4: 1; at 0.5 the quotas are
        # round(8.5) = 8 (halves to even), round(4.5) = 4, round(1.5) = 2
        # and round(0.5) = 0, and the target is 12 images
        rest, heldout = carve_heldout_split(lvis, 0.5, seed=0)
        held = recount(heldout)
        self.assertEqual(held[4], (0, 0))  # one image: never held out
        self.assertLessEqual(held[1][0], 8)
        self.assertLessEqual(held[2][0], 4)
        self.assertLessEqual(held[3][0], 2)
        # min_train_images=2 leaves category 3 (3 images) one to lend
        rest, heldout = carve_heldout_split(lvis, 0.5, 0, min_train_images=2)
        self.assertLessEqual(recount(heldout)[3][0], 1)
        self.assertGreaterEqual(recount(rest)[3][0], 2)

    def test_stops_short_of_the_target_and_says_so(self):
        # every image holds category 1; it may lend only 10 - 8 = 2 images
        lvis = dict(
            images=[dict(id=i) for i in range(1, 11)],
            annotations=[
                dict(id=i, image_id=i, category_id=1) for i in range(1, 11)
            ],
            categories=[dict(id=1, frequency='c')])
        rest, heldout = carve_heldout_split(lvis, 0.3, min_train_images=8)
        self.assertEqual(len(heldout['images']), 2)
        note = heldout['info']['heldout_split']
        self.assertEqual((note['target_heldout_images'],
                          note['heldout_images'], note['train_rest_images']),
                         (3, 2, 8))
        self.assertEqual(rest['licenses'], [])  # absent keys default
        # images without annotations fill the target freely
        lvis['images'] += [dict(id=i) for i in range(11, 21)]
        _, heldout = carve_heldout_split(lvis, 0.3, min_train_images=8)
        self.assertEqual(len(heldout['images']), 6)

    def test_deterministic_per_seed(self):
        lvis = make_lvis()
        first = carve_heldout_split(lvis, 0.25, seed=5)
        self.assertEqual(first, carve_heldout_split(lvis, 0.25, seed=5))
        # the input's image order does not matter, only the ids
        shuffled = dict(lvis, images=lvis['images'][::-1])
        self.assertEqual(
            heldout_ids(first[1]),
            heldout_ids(carve_heldout_split(shuffled, 0.25, seed=5)[1]))
        held = [
            heldout_ids(carve_heldout_split(lvis, 0.25, seed=s)[1])
            for s in range(4)
        ]
        self.assertGreater(len(set(held)), 1)

    def test_errors_name_the_fix(self):
        lvis = make_lvis()
        for fraction in (0, -0.1, 0.51, 1.0):
            with self.assertRaisesRegex(ValueError, r'fraction .*\(0, 0.5\]'):
                carve_heldout_split(lvis, fraction)
        with self.assertRaisesRegex(ValueError, 'min_train_images'):
            carve_heldout_split(lvis, 0.1, min_train_images=0)
        for key in ('images', 'annotations', 'categories'):
            broken = {k: v for k, v in lvis.items() if k != key}
            with self.assertRaisesRegex(ValueError,
                                        f"no \\['{key}'\\].*lvis_v1_train"):
                carve_heldout_split(broken, 0.1)
        broken = copy.deepcopy(lvis)
        del broken['categories'][2]['frequency']
        with self.assertRaisesRegex(ValueError,
                                    'category 3 .*official LVIS v1 train'):
            carve_heldout_split(broken, 0.1)
        broken = copy.deepcopy(lvis)
        broken['annotations'][0]['image_id'] = -1
        with self.assertRaisesRegex(ValueError, 'not in "images"'):
            carve_heldout_split(broken, 0.1)

    def test_split_statistics(self):
        lvis = make_lvis()
        stats = split_statistics(lvis)
        freq_images = {'f': set(), 'c': set(), 'r': set()}
        for ann in lvis['annotations']:
            freq_images[FREQUENCY[ann['category_id']]].add(ann['image_id'])
        self.assertEqual(stats['all'],
                         dict(images=24, instances=37, categories=4))
        self.assertEqual(stats['r'], dict(images=4, instances=4, categories=2))
        for group in 'rcf':
            self.assertEqual(stats[group]['images'], len(freq_images[group]))


class TestTinyLVISHeldout(SplitChecks, unittest.TestCase):
    """The generated tiny LVIS: its held-out split is what
    carve_heldout_split makes of all train images drawn."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.paths = generate_tiny_lvis(cls.tmp.name, write_images=False)
        cls.data = {}
        for split, path in cls.paths.items():
            with open(path) as f:
                cls.data[split] = json.load(f)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def drawn(self):
        """All train images drawn, rebuilt from the two files, with the
        official categories (val carries them)."""
        rest, heldout = self.data['train'], self.data['heldout']
        return dict(
            info=rest['info'],
            licenses=rest['licenses'],
            images=sorted(
                rest['images'] + heldout['images'], key=lambda i: i['id']),
            annotations=rest['annotations'] + heldout['annotations'],
            categories=self.data['val']['categories'])

    def test_split_sizes(self):
        spec = PRESETS['tiny']
        self.assertEqual(spec.heldout_fraction, 0.2)
        drawn = self.drawn()
        num_drawn = round(spec.train_images / 0.8)
        self.assertEqual([img['id'] for img in drawn['images']],
                         list(range(1, num_drawn + 1)))
        # the target (48 of 240) is reached, leaving train_images
        self.assertEqual(len(self.data['heldout']['images']), 48)
        self.assertEqual(len(self.data['train']['images']), spec.train_images)

    def test_split_follows_the_rule(self):
        drawn = self.drawn()
        heldout = self.data['heldout']
        self.check_split(drawn, self.data['train'], heldout, 0.2, 1)
        self.assertEqual(
            heldout_ids(heldout), reference_heldout_ids(drawn, 0.2, 0, 1))
        # the official counts are those of all drawn images
        official = {
            c['id']: (c['image_count'], c['instance_count'])
            for c in drawn['categories']
        }
        self.assertEqual(official, recount(drawn))
        # and fix the frequency groups with LVIS's thresholds
        for cat in drawn['categories']:
            n = cat['image_count']
            self.assertEqual(cat['frequency'],
                             'r' if n <= 10 else 'c' if n <= 100 else 'f')
        # every group has a category in the held-out split
        stats = split_statistics(self.data['heldout'])
        self.assertTrue(all(stats[g]['categories'] for g in 'rcf'))

    def test_seeds(self):
        drawn = self.drawn()
        held = carve_heldout_split(drawn, 0.2, seed=0)[1]
        self.assertEqual(held['images'], self.data['heldout']['images'])
        other = carve_heldout_split(drawn, 0.2, seed=1)[1]
        self.assertNotEqual(heldout_ids(other), heldout_ids(held))

    def test_no_heldout_split(self):
        with tempfile.TemporaryDirectory() as tmp:
            generate_tiny_lvis(tmp, write_images=False)
            spec = TinyLVISSpec(heldout_fraction=0)
            paths = generate_tiny_lvis(tmp, spec, write_images=False)
            self.assertEqual(sorted(paths), ['train', 'val'])
            # the held-out file of the earlier spec is gone
            self.assertFalse(
                osp.exists(
                    osp.join(tmp, 'annotations', 'lvis_v1_heldout.json')))
            with open(paths['train']) as f:
                self.assertEqual(len(json.load(f)['images']), 192)
        with self.assertRaisesRegex(ValueError, 'heldout_fraction'):
            TinyLVISSpec(heldout_fraction=0.6)

    def test_lvisv1dataset_loads_heldout(self):
        from mmdet.datasets import LVISV1Dataset
        heldout = self.data['heldout']
        dataset = LVISV1Dataset(
            data_root=self.tmp.name,
            ann_file='annotations/lvis_v1_heldout.json',
            data_prefix=dict(img=''),
            metainfo=dict(classes=class_names(PRESETS['tiny'])),
            pipeline=[],
            lazy_init=True)
        dataset.full_init()
        self.assertEqual(len(dataset), len(heldout['images']))
        num_instances = {img['id']: 0 for img in heldout['images']}
        for ann in heldout['annotations']:
            num_instances[ann['image_id']] += 1
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            # the same place as the train images: train2017/ under data_root
            self.assertEqual(
                info['img_path'],
                osp.join(self.tmp.name, 'train2017',
                         f'{info["img_id"]:012d}.png'))
            self.assertEqual(
                len(info['instances']), num_instances[info['img_id']])


def run_cli(*args):
    return subprocess.run([sys.executable, CLI, *args],
                          capture_output=True,
                          text=True,
                          cwd=ROOT)


class TestCLI(unittest.TestCase):

    def test_end_to_end(self):
        lvis = make_lvis()
        with tempfile.TemporaryDirectory() as tmp:
            src = osp.join(tmp, 'lvis_v1_train.json')
            with open(src, 'w') as f:
                json.dump(lvis, f)
            out = osp.join(tmp, 'out')
            proc = run_cli(src, '--fraction', '0.25', '--seed', '2',
                           '--out-dir', out)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(osp.join(out, 'lvis_v1_train_rest.json')) as f:
                rest = json.load(f)
            with open(osp.join(out, 'lvis_v1_heldout.json')) as f:
                heldout = json.load(f)
            expected = carve_heldout_split(lvis, 0.25, seed=2)
            self.assertEqual(
                heldout_ids(heldout), reference_heldout_ids(lvis, 0.25, 2, 1))
            for got, want in zip((rest, heldout), expected):
                self.assertEqual([i['id'] for i in got['images']],
                                 [i['id'] for i in want['images']])
                self.assertEqual(got['categories'], want['categories'])
            self.assertEqual(heldout['info']['heldout_split']['source'],
                             'lvis_v1_train.json')
            # printed numbers: the plain recount of each file
            for name, split in (('train_rest', rest), ('heldout', heldout)):
                pattern = rf'^{name} +all +(\d+) images +(\d+) instances'
                match = re.search(pattern, proc.stdout, re.M)
                self.assertIsNotNone(match, proc.stdout)
                self.assertEqual(
                    (int(match.group(1)), int(match.group(2))),
                    (len(split['images']), len(split['annotations'])))
                rare = {
                    a['image_id']
                    for a in split['annotations']
                    if FREQUENCY[a['category_id']] == 'r'
                }
                match = re.search(rf'^{name} +rare +(\d+) images', proc.stdout,
                                  re.M)
                self.assertEqual(int(match.group(1)), len(rare))
            # names overridable; the input is never overwritten
            proc = run_cli(src, '--fraction', '0.25', '--rest-name',
                           'lvis_v1_train.json')
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn('--rest-name', proc.stderr)
            with open(src) as f:
                self.assertEqual(json.load(f), lvis)


if __name__ == '__main__':
    unittest.main()
