# Copyright (c) mmdet-causal contributors. All rights reserved.
"""FastLVISMetric: every number of every backend equals the official LVIS
API's, end to end through the metric."""
import contextlib
import json
import os.path as osp
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import numpy as np
import torch
from mmdet.evaluation import LVISMetric

import mmdet_causal  # noqa: F401
from mmdet_causal.evaluation import (FastLVISMetric, fast_lvis_metric,
                                     patch_lvis_numpy)
from mmdet_causal.testing import (TinyLVISSpec, generate_tiny_lvis,
                                  make_lvis_gt, make_predictions)


def data_samples(preds):
    """Predictions in the form the model hands to ``process``."""
    samples = []
    for p in preds:
        pred = dict(
            bboxes=torch.from_numpy(p['bboxes']),
            scores=torch.from_numpy(p['scores']),
            labels=torch.from_numpy(p['labels']))
        if 'masks' in p:
            import pycocotools.mask as mask_utils
            pred['masks'] = torch.from_numpy(
                np.stack([mask_utils.decode(m)
                          for m in p['masks']]) if p['masks'] else np.zeros((
                              0, 1, 1), np.uint8)).bool()
        samples.append(
            dict(img_id=p['img_id'], ori_shape=(64, 64), pred_instances=pred))
    return samples


def run_metric(metric_cls, ann_file, preds, **kwargs):
    if metric_cls is LVISMetric:
        patch_lvis_numpy()  # mmdet's own metric needs the fix on numpy 1.24+
    metric = metric_cls(ann_file=ann_file, metric=['bbox', 'segm'], **kwargs)
    metric.dataset_meta = dict(classes=[])
    metric.process({}, data_samples(preds))
    return metric.evaluate(len(preds))


def evaluate_recording(metric, preds):
    """``process`` and ``evaluate`` the metric end to end; returns the
    metrics and the LVISEval objects mmdet's compute_metrics made, in the
    order of the iou types."""
    evals = []
    original = fast_lvis_metric.lvis_api_for_mmdet

    @contextlib.contextmanager
    def recording(results_factory, eval_cls):

        def make_eval(*args):
            evals.append(eval_cls(*args))
            return evals[-1]

        with original(results_factory, make_eval):
            yield

    metric.dataset_meta = dict(classes=[])
    metric.process({}, data_samples(preds))
    with mock.patch.object(fast_lvis_metric, 'lvis_api_for_mmdet', recording):
        out = metric.evaluate(len(preds))
    return out, evals


class TestFastLVISMetricEquality(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        # many classes, empty images, negative and not-exhaustive lists,
        # > 300 detections on some images, tied scores, polygon and RLE
        # ground-truth masks
        gt = make_lvis_gt(
            num_images=40,
            num_classes=60,
            empty_fraction=0.15,
            rle_fraction=0.5)
        cls.ann_file = osp.join(cls.tmp.name, 'gt.json')
        with open(cls.ann_file, 'w') as f:
            json.dump(gt, f)
        cls.preds = make_predictions(
            gt, dets_per_image=40, many_dets_every=7, many_dets=420)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_generated_set_has_the_hard_cases(self):
        with open(self.ann_file) as f:
            gt = json.load(f)
        annotated = {a['image_id'] for a in gt['annotations']}
        self.assertLess(len(annotated), len(gt['images']))
        self.assertTrue(
            any(i['not_exhaustive_category_ids'] for i in gt['images']))
        self.assertTrue(
            any(
                isinstance(a['segmentation'], dict)
                for a in gt['annotations']))
        self.assertTrue(
            any(
                isinstance(a['segmentation'], list)
                for a in gt['annotations']))
        self.assertTrue(any(len(p['labels']) > 300 for p in self.preds))
        scores = np.concatenate([p['scores'] for p in self.preds])
        self.assertLess(len(np.unique(scores)), len(scores))

    def _unrounded(self, backend):
        metric = FastLVISMetric(
            ann_file=self.ann_file, metric=['bbox', 'segm'], backend=backend)
        _, evals = evaluate_recording(metric, self.preds)
        out = {}
        for iou, lvis_eval in zip(('bbox', 'segm'), evals):
            results = {k: float(v) for k, v in lvis_eval.get_results().items()}
            precision = np.asarray(lvis_eval.eval['precision'])
            out[iou] = (results, precision.reshape(precision.shape[:4]))
        return out

    def test_backends_equal_official_unrounded(self):
        official = self._unrounded('official')
        fast = self._unrounded('hotcoco')
        for iou in ('bbox', 'segm'):
            ref, got = official[iou], fast[iou]
            self.assertEqual(set(ref[0]), set(got[0]))
            for key in ref[0]:
                self.assertAlmostEqual(
                    ref[0][key], got[0][key], delta=1e-9, msg=f'{iou} {key}')
            np.testing.assert_allclose(got[1], ref[1], rtol=0, atol=1e-9)
            self.assertGreater(ref[0]['AP'], 0.01)  # not a vacuous 0 == 0

    def test_metric_outputs_equal_mmdet_lvis_metric(self):
        """End to end: mmdet's own LVISMetric (with our numpy fix) and both
        backends report the same keys and numbers."""
        reference = run_metric(LVISMetric, self.ann_file, self.preds)
        for backend in ('official', 'hotcoco'):
            got = run_metric(
                FastLVISMetric, self.ann_file, self.preds, backend=backend)
            self.assertEqual(set(got), set(reference))
            for key, value in reference.items():
                self.assertAlmostEqual(
                    got[key], value, delta=1e-9, msg=f'{backend} {key}')
        for key in ('lvis/bbox_AP', 'lvis/bbox_APr', 'lvis/bbox_APc',
                    'lvis/bbox_APf', 'lvis/segm_AP', 'lvis/segm_APr'):
            self.assertIn(key, reference)

    def test_top_300_cap_per_image(self):
        """Dropping the detections beyond each image's top 300 changes
        nothing: the backends cap as the official API does."""
        capped = []
        for p in self.preds:
            order = np.argsort(-p['scores'], kind='stable')[:300]
            order = np.sort(order)
            capped.append(
                dict(
                    p,
                    bboxes=p['bboxes'][order],
                    scores=p['scores'][order],
                    labels=p['labels'][order],
                    masks=[p['masks'][i] for i in order]))

        def ap(preds, max_dets=300):
            metric = FastLVISMetric(
                ann_file=self.ann_file, backend='hotcoco', max_dets=max_dets)
            _, (lvis_eval, ) = evaluate_recording(metric, preds)
            return float(lvis_eval.get_results()['AP'])

        self.assertEqual(ap(self.preds), ap(capped))
        # and the cap matters on this data, so the check is not vacuous
        self.assertNotEqual(ap(self.preds, max_dets=-1), ap(self.preds))

    def test_classwise_table(self):
        for backend in ('official', 'hotcoco'):
            metric = FastLVISMetric(
                ann_file=self.ann_file, backend=backend, classwise=True)
            metric.dataset_meta = dict(classes=[])
            metric.process({}, data_samples(self.preds))
            out = metric.evaluate(len(self.preds))
            self.assertIn('lvis/bbox_class_0_precision', out)
            if backend == 'official':
                ref = out
        self.assertEqual(set(out), set(ref))
        for key, value in ref.items():
            # classes without ground truth are NaN in both
            np.testing.assert_equal(out[key], value, err_msg=key)

    def test_classwise_keeps_each_iou_type(self):
        """Per-class AP of bbox and segm under their own keys, each equal
        to the official API evaluating that one class alone."""
        from lvis import LVISEval
        outs, evals = {}, {}
        for backend in ('official', 'hotcoco'):
            metric = FastLVISMetric(
                ann_file=self.ann_file,
                backend=backend,
                metric=['bbox', 'segm'],
                classwise=True)
            outs[backend], evals[backend] = evaluate_recording(
                metric, self.preds)
        out, evals = outs['official'], evals['official']
        self.assertEqual(set(outs['hotcoco']), set(out))
        for key, value in out.items():
            np.testing.assert_equal(outs['hotcoco'][key], value, err_msg=key)
        # mmdet's iou-less key, overwritten by segm, is gone
        self.assertNotIn('lvis/class_0_precision', out)
        cats = evals[0].lvis_gt.load_cats(evals[0].lvis_gt.get_cat_ids())
        differ = 0
        for cat in cats[:12]:
            ref = {}
            for lvis_eval in evals:  # bbox, segm: the official backend's
                iou = lvis_eval.params.iou_type
                alone = LVISEval(lvis_eval.lvis_gt, lvis_eval.lvis_dt, iou)
                alone.params.imgIds = lvis_eval.params.img_ids
                alone.params.cat_ids = [cat['id']]
                alone.run()
                ref[iou] = alone.get_results()['AP']
                key = f'lvis/{iou}_{cat["name"]}_precision'
                if ref[iou] == -1:  # no ground truth of the class
                    self.assertTrue(np.isnan(out[key]), key)
                else:
                    self.assertAlmostEqual(
                        out[key], round(ref[iou], 3), places=6, msg=key)
            differ += ref['bbox'] != ref['segm']
        self.assertGreater(differ, 0)  # else the test could not tell


class TestFastLVISMetricOnTinyLVIS(unittest.TestCase):

    def test_tiny_lvis_backends_agree(self):
        with tempfile.TemporaryDirectory() as tmp:
            paths = generate_tiny_lvis(
                tmp,
                TinyLVISSpec(train_images=4, val_images_per_class=3),
                write_images=False)
            with open(paths['val']) as f:
                gt = json.load(f)
            for img in gt['images']:
                img['width'] = img['height'] = 64  # make_predictions' size
            # boxes of the 128 px set, predictions on a 64 px canvas: use
            # the GT itself, rescaled, as a source of hits
            for ann in gt['annotations']:
                ann['bbox'] = [v / 2 for v in ann['bbox']]
                ann['segmentation'] = [[v / 2 for v in ann['segmentation'][0]]]
                ann['area'] /= 4
            ann_file = osp.join(tmp, 'val64.json')
            with open(ann_file, 'w') as f:
                json.dump(gt, f)
            preds = make_predictions(gt, dets_per_image=25)
            ref = run_metric(LVISMetric, ann_file, preds)
            got = run_metric(FastLVISMetric, ann_file, preds)
            self.assertEqual(got, ref)
            self.assertGreater(ref['lvis/bbox_AP'], 0)


class TestMalformedGroundTruth(unittest.TestCase):

    def test_same_clear_error_for_every_backend(self):
        gt = make_lvis_gt(num_images=5, num_classes=4)
        del gt['images'][2]['neg_category_ids']
        with tempfile.TemporaryDirectory() as tmp:
            path = osp.join(tmp, 'gt.json')
            with open(path, 'w') as f:
                json.dump(gt, f)
            messages = []
            for backend in ('official', 'hotcoco'):
                with self.assertRaises(ValueError) as ctx:
                    FastLVISMetric(ann_file=path, backend=backend)
                messages.append(str(ctx.exception))
        self.assertEqual(messages[0], messages[1])
        self.assertIn('neg_category_ids', messages[0])
        self.assertIn('image 3', messages[0])

    def test_bad_frequency_and_backend(self):
        gt = make_lvis_gt(num_images=3, num_classes=4)
        gt['categories'][1]['frequency'] = 'x'
        with tempfile.TemporaryDirectory() as tmp:
            path = osp.join(tmp, 'gt.json')
            with open(path, 'w') as f:
                json.dump(gt, f)
            with self.assertRaisesRegex(ValueError, 'frequency'):
                FastLVISMetric(ann_file=path)
        with self.assertRaisesRegex(ValueError, 'backend'):
            FastLVISMetric(backend='faster')
        with self.assertRaisesRegex(ValueError, 'backend="official"'):
            FastLVISMetric(metric=['bbox', 'proposal'], backend='hotcoco')


class TestLVISNumpyCompat(unittest.TestCase):

    def test_fix_applies_where_the_official_api_is_used(self):
        """Not on import mmdet_causal, nor with the hotcoco backend; with
        the official backend."""
        code = """
import lvis.eval
import numpy as np
import mmdet_causal
from mmdet_causal.evaluation import FastLVISMetric
assert not hasattr(lvis.eval.np, 'float'), 'patched on import'
FastLVISMetric(backend='hotcoco')
assert not hasattr(lvis.eval.np, 'float'), 'patched by hotcoco'
FastLVISMetric(backend='official')
assert lvis.eval.np.float is float, 'not patched for the official API'
assert not hasattr(np, 'float')
"""
        out = subprocess.run([sys.executable, '-c', code],
                             capture_output=True,
                             text=True)
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])

    def test_fix_is_scoped_to_lvis_eval(self):
        import lvis.eval

        from mmdet_causal.evaluation import patch_lvis_numpy
        self.assertTrue(patch_lvis_numpy())  # idempotent, still active
        self.assertIs(lvis.eval.np.float, float)
        self.assertIs(lvis.eval.np.cumsum, np.cumsum)
        self.assertFalse(hasattr(np, 'float'))  # numpy itself untouched


if __name__ == '__main__':
    unittest.main()
