# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Selection of a test-time strength on a held-out split: refused, with the
fix named, when the choice would mean nothing (checked against LVIS files
and mmdet's own metric objects)."""
import json
import math
import os.path as osp
import tempfile
import unittest
import warnings

from mmdet.evaluation.metrics import CocoMetric

from mmdet_causal.apis import strength_grid
from mmdet_causal.engine.runner.strength_selection import (check_select_metric,
                                                           check_select_set,
                                                           metric_parts, pick)
from mmdet_causal.evaluation import FastLVISMetric


def lvis_file(path, images, anns, freqs=('r', 'c', 'f')):
    cats = [
        dict(id=i + 1, name=f'c{i}', frequency=f) for i, f in enumerate(freqs)
    ]
    with open(path, 'w') as f:
        json.dump(
            dict(
                images=[dict(id=i) for i in images],
                annotations=[
                    dict(id=k + 1, image_id=img, category_id=cat)
                    for k, (img, cat) in enumerate(anns)
                ],
                categories=cats), f)
    return path


class TestSelectMetric(unittest.TestCase):

    def metrics(self, iou_types, metric_items=None):
        metric = FastLVISMetric.__new__(FastLVISMetric)
        metric.metrics = iou_types
        metric.metric_items = metric_items
        return [metric]

    def test_the_configs_metric_items_are_the_choices(self):
        metrics = self.metrics(['bbox'], metric_items=['AP', 'APr'])
        check_select_metric('bbox_APr', metrics)
        with self.assertRaisesRegex(ValueError,
                                    r"'bbox_APc'.*one of: bbox_AP, bbox_APr$"):
            check_select_metric('bbox_APc', metrics)

    def test_typo_with_a_valid_prefix_is_refused_up_front(self):
        with self.assertRaisesRegex(ValueError,
                                    r"'bbox_APrare'.*bbox_AP, bbox_AP50"):
            check_select_metric('bbox_APrare', self.metrics(['bbox']))

    def test_unknown_name_lists_the_valid_metrics(self):
        with self.assertRaises(ValueError) as err:
            check_select_metric('bogus_AP', self.metrics(['bbox', 'segm']))
        self.assertIn('segm_APr', str(err.exception))
        self.assertNotIn('--eval', str(err.exception))

    def test_missing_iou_type_names_the_eval_flag(self):
        with self.assertRaisesRegex(ValueError, r'--eval \.\.\. segm'):
            check_select_metric('segm_AP', self.metrics(['bbox']))

    def test_valid_names_pass(self):
        for name in ('bbox_AP', 'lvis/segm_APr', 'segm_APf'):
            check_select_metric(name, self.metrics(['bbox', 'segm']))
        coco = CocoMetric.__new__(CocoMetric)
        coco.metrics = ['bbox']
        check_select_metric('coco/bbox_mAP', [coco])
        with self.assertRaisesRegex(ValueError, 'bbox_mAP_50'):
            check_select_metric('bbox_AP', [coco])

    def test_metric_keys_split_into_iou_type_and_column(self):
        cases = {
            'lvis/bbox_APr': ('bbox', 'APr'),
            'segm_AP': ('segm', 'AP'),
            'coco/bbox_mAP_50': ('bbox', 'mAP_50'),
            'coco/proposal_fast_AR@100': ('proposal_fast', 'AR@100'),
            'proposal_AP': ('proposal', 'AP'),
            'accuracy_top1': ('accuracy', 'top1'),
        }
        for key, parts in cases.items():
            self.assertEqual(metric_parts(key), parts, key)

    def test_missing_proposal_fast_names_its_eval_flag(self):
        with self.assertRaisesRegex(ValueError,
                                    r'--eval \.\.\. proposal_fast\)'):
            check_select_metric('proposal_fast_AP', self.metrics(['bbox']))


class TestSelectSet(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.test = lvis_file(
            osp.join(self.tmp.name, 'val.json'), [1, 2], [(1, 1), (2, 3)])

    def test_the_test_file_is_refused(self):
        with self.assertRaisesRegex(ValueError, 'is the test set'):
            check_select_set(self.test, self.test, 'bbox_AP')
        # a copy: the same images
        copy = lvis_file(
            osp.join(self.tmp.name, 'copy.json'), [2, 1], [(1, 1)])
        with self.assertRaisesRegex(ValueError, 'is the test set'):
            check_select_set(copy, self.test, 'bbox_AP')

    def test_shared_images_are_warned_about(self):
        part = lvis_file(
            osp.join(self.tmp.name, 'part.json'), [2, 7], [(2, 1), (7, 2)])
        with self.assertWarnsRegex(UserWarning,
                                   'shares 1 of its 2 images with the test'):
            check_select_set(part, self.test, 'bbox_AP')
        apart = lvis_file(
            osp.join(self.tmp.name, 'apart.json'), [5, 7], [(5, 1), (7, 2)])
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            check_select_set(apart, self.test, 'bbox_AP')

    def test_no_annotations_is_refused(self):
        empty = lvis_file(osp.join(self.tmp.name, 'empty.json'), [5, 6], [])
        with self.assertRaisesRegex(ValueError, 'has no annotations'):
            check_select_set(empty, self.test, 'bbox_AP')

    def test_group_metric_needs_its_group(self):
        no_rare = lvis_file(
            osp.join(self.tmp.name, 'h.json'), [5, 6], [(5, 2), (6, 3)])
        check_select_set(no_rare, self.test, 'bbox_AP')
        check_select_set(no_rare, self.test, 'segm_APc')
        with self.assertRaisesRegex(ValueError,
                                    r'no rare-class instance.*bbox_AP'):
            check_select_set(no_rare, self.test, 'bbox_APr')


class TestPick(unittest.TestCase):

    def setUp(self):
        self.settings = strength_grid(alphas=[0, 1, 2])

    def scores(self, *values):
        return {s: {'k': v} for s, v in zip(self.settings, values)}

    def test_best_defined_strength(self):
        self.assertEqual(
            pick(self.scores(0.2, -1.0, 0.1), self.settings, 'k', 'h'),
            self.settings[0])
        self.assertEqual(
            pick(self.scores(-1.0, math.nan, 0.1), self.settings, 'k', 'h'),
            self.settings[2])

    def test_ties_go_to_the_least_correction(self):
        self.assertEqual(
            pick(self.scores(0.1, 0.3, 0.3), self.settings, 'k', 'h'),
            self.settings[1])

    def test_undefined_everywhere_is_refused(self):
        with self.assertRaisesRegex(ValueError,
                                    'undefined .* on the selection set h'):
            pick(self.scores(-1.0, -1.0, math.nan), self.settings, 'k', 'h')


if __name__ == '__main__':
    unittest.main()
