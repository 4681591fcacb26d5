# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The three figure tools, checked on what the figures are made of: the
labels each strength shows and the probabilities behind them, the Grad-CAM
map (against the formula, and where its gradient comes from), and the
per-class points (against the metrics JSON)."""
import glob
import json
import math
import os.path as osp
import sys
import tempfile
import unittest

import numpy as np
import torch
from mmdet.apis import init_detector
from mmdet.models.roi_heads.bbox_heads import BBoxHead
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

import mmdet_causal  # noqa: F401
from mmdet_causal.apis.debias_sweep import Strength
from mmdet_causal.models import CausalConvFCBBoxHead
from mmdet_causal.testing import TinyLVISSpec, generate_tiny_lvis
from mmdet_causal.utils import causal_bbox_heads, trust_local_checkpoints
from mmdet_causal.utils.class_counts import counts_from_lvis_json
from mmdet_causal.utils.tde import configure_tde
from mmdet_causal.visualization import (per_class_ap, plot_per_class_ap,
                                        read_metrics)
from mmdet_causal.visualization.detections import (image_batch, load_detector,
                                                   log_counts_for)
from mmdet_causal.visualization.grad_cam import detection_grad_cam, grad_cam
from mmdet_causal.visualization.strength_panels import compare_strengths

ROOT = osp.join(osp.dirname(__file__), '..', '..')
TOOLS = osp.join(ROOT, 'tools', 'analysis_tools')
sys.path.insert(0, osp.abspath(TOOLS))
import plot_per_class_ap as plot_tool  # noqa: E402
import tde_gradcam  # noqa: E402
import tde_visualize  # noqa: E402

SCORE_THR = 0.05


def iou(a, b):
    ix = max(0., min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0., min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] -
                                                             b[1]) - inter
    return inter / union


def write_model(tmp, rel, data_root, train_ann):
    """A tiny model with seeded weights (no training: the tools need its
    code path, not its accuracy) saved as a config and a checkpoint like
    ours: trained-looking causal averages and stock logits, the classes and
    the training class counts in the meta."""
    register_all_modules()
    cfg = Config.fromfile(osp.join(ROOT, 'configs', rel))
    cfg.data_root = data_root
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    for head in causal_bbox_heads(model):
        head.causal_embed.uniform_(0, 1)
    for head in model.modules():
        if isinstance(head,
                      BBoxHead) and not isinstance(head, CausalConvFCBBoxHead):
            torch.nn.init.normal_(head.fc_cls.weight, std=0.5)
    name = osp.splitext(osp.basename(rel))[0]
    config = osp.join(tmp, name + '.py')
    cfg.dump(config)
    ckpt = osp.join(tmp, name + '.pth')
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(
                dataset_meta=dict(classes=list(cfg.classes)),
                class_counts=counts_from_lvis_json(train_ann))), ckpt)
    return config, ckpt


class FigureToolsCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        root = osp.join(cls.tmp.name, 'data')
        paths = generate_tiny_lvis(
            root, TinyLVISSpec(train_images=8, val_images_per_class=1))
        cls.train_ann = paths['train']
        cls.images = sorted(glob.glob(osp.join(root, 'val2017', '*.png')))
        cls.causal = write_model(cls.tmp.name,
                                 'tiny/htc-causal_r18_fpn_tiny-lvis.py', root,
                                 cls.train_ann)
        cls.stock = write_model(cls.tmp.name, 'tiny/htc_r18_fpn_tiny-lvis.py',
                                root, cls.train_ann)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()


class TestStrengthPanels(FigureToolsCase):

    def reference_predictions(self, alpha, image):
        """``model.predict`` of a detector built with the alpha in its
        config (as tools/test.py --tde-alpha does)."""
        trust_local_checkpoints()
        cfg = Config.fromfile(self.causal[0])
        configure_tde(cfg.model, alpha=alpha)
        model = init_detector(cfg, self.causal[1], device='cpu')
        with torch.no_grad():
            sample, = model.test_step(image_batch(model, image))
        return sample.pred_instances

    def test_labels_and_probabilities_per_alpha(self):
        model = load_detector(*self.causal)
        strengths = [Strength(0.), Strength(1.5), Strength(3.)]
        image = self.images[0]
        comparison = compare_strengths(
            model, image, strengths, score_thr=SCORE_THR, max_changed=50)
        refs = [self.reference_predictions(s.alpha, image) for s in strengths]
        for sample, ref in zip(comparison.samples, refs):
            # each panel is the plain test run at its alpha
            torch.testing.assert_close(sample.pred_instances.bboxes,
                                       ref.bboxes)
            torch.testing.assert_close(sample.pred_instances.scores,
                                       ref.scores)
            self.assertTrue(
                torch.equal(sample.pred_instances.labels, ref.labels))
        self.assertGreater(len(comparison.changed), 0)  # not vacuous
        for c in comparison.changed:
            for k, ref in enumerate(refs):
                # the label shown on the box: the most confident detection
                # at or above the threshold overlapping it
                on_box = [(s, lab)
                          for b, s, lab in zip(ref.bboxes.tolist(
                          ), ref.scores.tolist(), ref.labels.tolist())
                          if s >= SCORE_THR and iou(b, c.box) >= 0.7]
                expected = max(on_box)[1] if on_box else None
                self.assertEqual(c.labels[k], expected)
                if expected is not None:
                    # the table's probability of the shown class is the
                    # score the panel shows
                    probs = dict(c.top[k])
                    name = comparison.classes[expected]
                    self.assertIn(name, probs)
                    self.assertAlmostEqual(probs[name], c.scores[k], places=6)
                    self.assertEqual(len(c.top[k]), 5)
                    tops = [p for _, p in c.top[k]]
                    self.assertEqual(tops, sorted(tops, reverse=True))
            self.assertGreaterEqual(
                len({lab
                     for lab in c.labels if lab is not None}), 2)

    def test_tool_on_causal_and_stock_models(self):
        with tempfile.TemporaryDirectory() as out:
            tde_visualize.main([
                *self.causal, self.images[1], '--alphas', '0', '2',
                '--score-thr',
                str(SCORE_THR), '--out', out, '--json'
            ])
            stem = osp.splitext(osp.basename(self.images[1]))[0]
            with open(osp.join(out, f'{stem}_strengths.json')) as f:
                record = json.load(f)
            self.assertEqual(record['strengths'], ['alpha=0', 'alpha=2'])
            self.assertLess(
                osp.getsize(osp.join(out, f'{stem}_strengths.png')), 300e3)
            # the stock twin at NorCal gammas, counts from the checkpoint
            tde_visualize.main([
                *self.stock, self.images[1], '--gammas', '0', '1',
                '--score-thr',
                str(SCORE_THR), '--out', out, '--json'
            ])
            with open(osp.join(out, f'{stem}_strengths.json')) as f:
                record = json.load(f)
            self.assertEqual(record['strengths'], ['gamma=0', 'gamma=1'])
            with self.assertRaisesRegex(ValueError, 'not a class'):
                tde_visualize.main(
                    [*self.causal, self.images[1], '--class', 'kimono'])

    def test_norcal_counts_come_from_the_checkpoint(self):
        model = load_detector(*self.stock)
        counts = counts_from_lvis_json(self.train_ann)['instance_count']
        expected = torch.tensor(counts, dtype=torch.float64).clamp(1).log()
        torch.testing.assert_close(log_counts_for(model), expected)

    def test_loader_reads_the_file_once_and_leaves_mmengine_alone(self):
        from mmengine.runner.checkpoint import (CheckpointLoader,
                                                load_from_local)
        CheckpointLoader.register_scheme('', load_from_local, force=True)
        try:
            model = load_detector(*self.stock)
            # mmengine's loader of local files is still its own
            self.assertIs(
                CheckpointLoader._get_checkpoint_loader(self.stock[1]),
                load_from_local)
        finally:
            trust_local_checkpoints()
        # and the trusted one of tools/test.py, held before, is too
        trusted = CheckpointLoader._get_checkpoint_loader(self.stock[1])
        load_detector(*self.stock)
        self.assertIs(
            CheckpointLoader._get_checkpoint_loader(self.stock[1]), trusted)
        ckpt = torch.load(
            self.stock[1], map_location='cpu', weights_only=False)
        state = model.state_dict()
        for key, value in ckpt['state_dict'].items():
            torch.testing.assert_close(state[key], value, msg=key)
        self.assertEqual(
            list(model.dataset_meta['classes']),
            list(ckpt['meta']['dataset_meta']['classes']))
        self.assertEqual(model.checkpoint_meta, ckpt['meta'])


class TestGradCAM(FigureToolsCase):

    def test_formula_on_a_hand_computed_case(self):
        a = torch.tensor([[[1., 2.], [3., 4.]], [[0., 1.], [0., -2.]]])
        g = torch.tensor([[[0.5, 0.5], [0.5, 0.5]], [[-2., 0.], [0., 0.]]])
        # weights: channel 0 mean 0.5, channel 1 mean -0.5
        # 0.5 * a0 - 0.5 * a1 = [[0.5, 0.5], [1.5, 3.0]]
        expected = torch.tensor([[0.5, 0.5], [1.5, 3.0]])
        torch.testing.assert_close(grad_cam(a, g), expected)
        # negative evidence is cut at zero
        torch.testing.assert_close(
            grad_cam(-a, g), torch.tensor([[0., 0.], [0., 0.]]))
        with self.assertRaisesRegex(ValueError, 'channels, h, w'):
            grad_cam(a, g[0])

    def test_map_of_a_detection(self):
        model = load_detector(*self.causal)
        image = self.images[2]
        cam = detection_grad_cam(model, image, strength=Strength(1.5))
        import mmcv
        h, w = mmcv.imread(image).shape[:2]
        self.assertEqual(cam.cam.shape, (h, w))
        self.assertAlmostEqual(float(cam.cam.max()), 1.0, places=5)
        self.assertGreaterEqual(float(cam.cam.min()), 0.0)
        self.assertTrue(cam.layer.startswith('neck.fpn_convs.'))
        # the map is the formula on the level's output and the score's
        # gradient
        torch.testing.assert_close(cam.raw,
                                   grad_cam(cam.activation, cam.gradient))
        # the score reads the level only where its RoIs pool: no gradient
        # far from the detection
        stride = model.data_preprocessor(image_batch(
            model, image))['inputs'].shape[-1] / cam.gradient.shape[-1]
        support = torch.nonzero(cam.gradient.abs().sum(0))
        self.assertGreater(len(support), 0)
        x1, y1, x2, y2 = cam.roi
        margin = 0.5 * max(x2 - x1, y2 - y1) + 2 * stride
        ys, xs = (support.float() + 0.5).mul(stride).unbind(1)
        self.assertTrue(bool((xs >= x1 - margin).all()))
        self.assertTrue(bool((xs <= x2 + margin).all()))
        self.assertTrue(bool((ys >= y1 - margin).all()))
        self.assertTrue(bool((ys <= y2 + margin).all()))

    def test_map_follows_the_chosen_detection(self):
        model = load_detector(*self.causal)
        image = self.images[2]
        first = detection_grad_cam(model, image)
        far = None
        from mmdet_causal.visualization.detections import predict_with_scores
        with torch.no_grad():
            data = model.data_preprocessor(image_batch(model, image))
            sample, _ = predict_with_scores(model, data)
        for b in sample.pred_instances.bboxes.tolist():
            if iou(b, first.box) == 0:
                far = b
                break
        self.assertIsNotNone(far, 'the image needs two separate detections')
        second = detection_grad_cam(model, image, box=far)
        self.assertLess(iou(second.box, first.box), 0.5)
        self.assertFalse(torch.equal(first.gradient, second.gradient))
        # each gradient sits on its own detection: its centre of mass is
        # nearer its own box than the other's
        for cam, other in ((first, second), (second, first)):
            g = cam.gradient.abs().sum(0)
            ys, xs = torch.meshgrid(
                torch.arange(g.shape[0]),
                torch.arange(g.shape[1]),
                indexing='ij')
            stride = 128 / g.shape[1]
            cx = float((g * (xs + 0.5)).sum() / g.sum()) * stride
            cy = float((g * (ys + 0.5)).sum() / g.sum()) * stride

            def dist(box):
                return math.hypot(cx - (box[0] + box[2]) / 2,
                                  cy - (box[1] + box[3]) / 2)

            self.assertLess(dist(cam.roi), dist(other.roi))

    def test_tool_side_by_side(self):
        with tempfile.TemporaryDirectory() as out:
            png, js = osp.join(out, 'cam.png'), osp.join(out, 'cam.json')
            tde_gradcam.main([
                self.images[2], '--model', 'stock', *self.stock, '--model',
                'causal', *self.causal, '--alpha', '1.5', '--out', png,
                '--json', js
            ])
            with open(js) as f:
                info = json.load(f)
            self.assertEqual([i['model'] for i in info], ['stock', 'causal'])
            # the causal model explains its detection on the stock one's box
            self.assertGreaterEqual(iou(info[0]['box'], info[1]['box']), 0.5)
            self.assertLess(osp.getsize(png), 300e3)


class TestPerClassPlot(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        cats = [
            dict(id=i + 1, name=f'c{i}', frequency=f, instance_count=n)
            for i, (f, n) in enumerate([('r', 2), ('r',
                                                   5), ('c',
                                                        40), ('c',
                                                              90), ('f', 700)])
        ]
        self.train = osp.join(self.tmp.name, 'train.json')
        with open(self.train, 'w') as f:
            json.dump(dict(images=[], annotations=[], categories=cats), f)
        rng = np.random.RandomState(0)
        self.aps = {
            s: {
                f'c{i}': round(float(rng.uniform()), 3)
                for i in range(5)
            }
            for s in ('alpha=0', 'alpha=1.5')
        }
        self.aps['alpha=0']['c1'] = float('nan')  # no ground truth
        self.sweep = osp.join(self.tmp.name, 'sweep.json')
        with open(self.sweep, 'w') as f:
            json.dump(
                dict(
                    test={
                        s: {
                            f'lvis/bbox_{n}_precision': v
                            for n, v in aps.items()
                        }
                        for s, aps in self.aps.items()
                    },
                    selected=dict(name='alpha=1.5')), f)
        self.metrics_out = osp.join(self.tmp.name, 'metrics.json')
        with open(self.metrics_out, 'w') as f:
            json.dump(
                dict(
                    metrics={
                        f'alpha=0/lvis/bbox_{n}_precision': v
                        for n, v in self.aps['alpha=0'].items()
                    }), f)

    def tearDown(self):
        self.tmp.cleanup()

    def test_points_equal_the_json(self):
        out = osp.join(self.tmp.name, 'fig.png')
        points = osp.join(self.tmp.name, 'points.json')
        plot_tool.main([
            self.train, self.sweep + '@alpha=0', self.sweep,
            self.metrics_out + '@alpha=0', '--labels', 'a0', 'picked',
            'a0 again', '--out', out, '--points-out', points
        ])
        with open(points) as f:
            got = json.load(f)
        counts = {'c0': 2, 'c1': 5, 'c2': 40, 'c3': 90, 'c4': 700}
        for label, strength in (('a0', 'alpha=0'), ('picked', 'alpha=1.5'),
                                ('a0 again', 'alpha=0')):
            for name, (n, ap) in got[label].items():
                self.assertEqual(n, counts[name])
                np.testing.assert_equal(ap, self.aps[strength][name])
        # the figure's points: (instances, AP %) of classes with ground truth
        counts_, groups = plot_tool.train_class_stats(self.train)
        fig = plot_per_class_ap(
            {
                'a0':
                per_class_ap(
                    read_metrics(self.sweep + '@alpha=0')[0], list(counts_))
            }, counts_, groups)
        offsets = fig.axes[0].collections[0].get_offsets()
        expected = [(counts[n], 100 * v)
                    for n, v in self.aps['alpha=0'].items()
                    if not math.isnan(v)]
        np.testing.assert_allclose(np.asarray(offsets), expected)
        self.assertLess(osp.getsize(out), 300e3)

    def test_clear_errors(self):
        with open(self.metrics_out, 'w') as f:
            json.dump(dict(metrics={'lvis/bbox_AP': 0.3}), f)
        with self.assertRaisesRegex(KeyError, 'classwise=True'):
            plot_tool.main([self.train, self.metrics_out])
        with self.assertRaisesRegex(KeyError, 'no strength'):
            read_metrics(self.sweep + '@alpha=9')
        with self.assertRaisesRegex(SystemExit, ''):
            plot_tool.parse_args(
                [self.train, self.sweep, '--labels', 'a', 'b'])


if __name__ == '__main__':
    unittest.main()
