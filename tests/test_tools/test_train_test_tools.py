# Copyright (c) mmdet-causal contributors. All rights reserved.
"""tools/train.py and tools/test.py end to end on a small tiny-LVIS, and the
TDE switches of tools/test.py."""
import json
import os.path as osp
import subprocess
import sys
import tempfile
import unittest

import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

import mmdet_causal  # noqa: F401
from mmdet_causal.testing import TinyLVISSpec, generate_tiny_lvis
from mmdet_causal.utils import causal_bbox_heads, configure_tde

ROOT = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..')
CAUSAL = 'configs/tiny/htc-causal_r18_fpn_tiny-lvis.py'
STOCK = 'configs/tiny/htc_r18_fpn_tiny-lvis.py'
# the tiny classes, fewer images: a few iterations, one short evaluation
SMALL = TinyLVISSpec(train_images=8, val_images_per_class=1)


class TestTDESwitches(unittest.TestCase):

    def test_configure_tde_sets_every_causal_head(self):
        register_all_modules()
        cfg = Config.fromfile(osp.join(ROOT, CAUSAL))
        self.assertEqual(configure_tde(cfg.model, alpha=0.7), 3)
        model = MODELS.build(cfg.model)
        heads = causal_bbox_heads(model)
        self.assertEqual([h.alpha for h in heads], [0.7] * 3)
        self.assertTrue(all(h.use_tde for h in heads))
        configure_tde(cfg.model, use_tde=False)
        model = MODELS.build(cfg.model)
        self.assertFalse(any(h.use_tde for h in causal_bbox_heads(model)))

    def test_configure_tde_errors(self):
        cfg = Config.fromfile(osp.join(ROOT, STOCK))
        with self.assertRaisesRegex(ValueError, 'no causal box head'):
            configure_tde(cfg.model, alpha=1.0)
        cfg = Config.fromfile(osp.join(ROOT, CAUSAL))
        with self.assertRaisesRegex(ValueError, 'non-negative'):
            configure_tde(cfg.model, alpha=-1.0)
        for bad in (float('inf'), float('nan')):
            with self.assertRaisesRegex(ValueError, 'finite'):
                configure_tde(cfg.model, alpha=bad)

    def test_cli_rejects_conflicting_switches(self):
        out = subprocess.run([
            sys.executable, 'tools/test.py', CAUSAL, 'x.pth', '--no-tde',
            '--tde-alpha', '1'
        ],
                             cwd=ROOT,
                             capture_output=True,
                             text=True)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn('exclude each other', out.stderr)


class TestTrainTestEndToEnd(unittest.TestCase):

    def test_train_then_test_with_lvis_metrics(self):
        with tempfile.TemporaryDirectory() as tmp:
            data = osp.join(tmp, 'data')
            generate_tiny_lvis(data, SMALL)
            work = osp.join(tmp, 'work')
            # every dataloader and evaluator at the generated data: the
            # runner builds the val evaluator (which loads its ann_file) even
            # when no validation runs
            data_opts = [
                f'{split}_dataloader.dataset.data_root={data}/'
                for split in ('train', 'val', 'test')
            ] + [
                f'{split}_evaluator.ann_file={data}/annotations/'
                'lvis_v1_val.json' for split in ('val', 'test')
            ]
            subprocess.run(
                [
                    sys.executable, 'tools/train.py', CAUSAL, '--work-dir',
                    work, '--cfg-options', 'train_cfg.max_epochs=1',
                    'default_hooks.checkpoint.interval=1',
                    'train_dataloader.num_workers=0',
                    'train_dataloader.persistent_workers=False'
                ] + data_opts,
                cwd=ROOT,
                check=True,
                capture_output=True)
            ckpt = osp.join(work, 'epoch_1.pth')
            state = torch.load(ckpt, map_location='cpu', weights_only=False)
            embeds = [
                k for k in state['state_dict'] if k.endswith('causal_embed')
            ]
            self.assertEqual(len(embeds), 3)
            for key in embeds:
                self.assertTrue(torch.isfinite(state['state_dict'][key]).all())
                self.assertGreater(state['state_dict'][key].abs().sum(), 0)

            results, stdout = {}, {}
            for name, extra in (('tde', []), ('plain', ['--no-tde'])):
                out = osp.join(work, f'{name}.json')
                proc = subprocess.run(
                    [
                        sys.executable, 'tools/test.py', CAUSAL, ckpt,
                        '--work-dir', work, '--eval', 'bbox', 'segm',
                        '--metrics-out', out, '--cfg-options',
                        'test_dataloader.num_workers=0',
                        'test_dataloader.persistent_workers=False'
                    ] + data_opts + extra,
                    cwd=ROOT,
                    check=True,
                    capture_output=True,
                    text=True)
                stdout[name] = proc.stdout
                with open(out) as f:
                    results[name] = json.load(f)
            metrics = results['tde']['metrics']
            for iou in ('bbox', 'segm'):
                for key in ('AP', 'AP50', 'APr', 'APc', 'APf'):
                    self.assertIn(f'lvis/{iou}_{key}', metrics)
            # the heads report cos for the rule-of-thumb alpha with TDE on
            self.assertEqual(len(results['tde']['cos_stats']), 3)
            self.assertGreater(results['tde']['cos_stats'][0]['num_rois'], 0)
            self.assertIn('rule-of-thumb alpha', stdout['tde'])
            means = [s['mean'] for s in results['tde']['cos_stats']]
            self.assertAlmostEqual(results['tde']['rule_of_thumb_alpha'],
                                   1 / (sum(means) / len(means)))
            # --no-tde: plain cosine scores, nothing recorded
            self.assertEqual(results['plain']['cos_stats'][0]['num_rois'], 0)

            # a checkpoint without the moving averages (as a stock model's
            # would be): one warning for the whole run, not one per head,
            # and none per image
            stock_like = osp.join(work, 'no_embed.pth')
            state = torch.load(ckpt, map_location='cpu', weights_only=False)
            state['state_dict'] = {
                k: v
                for k, v in state['state_dict'].items()
                if not k.endswith('causal_embed')
            }
            torch.save(state, stock_like)
            proc = subprocess.run(
                [
                    sys.executable, 'tools/test.py', CAUSAL, stock_like,
                    '--work-dir', work, '--eval', 'bbox', '--cfg-options',
                    'test_dataloader.num_workers=0',
                    'test_dataloader.persistent_workers=False'
                ] + data_opts,
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True)
            self.assertEqual((proc.stdout + proc.stderr).count(
                'causal_embed is missing from the checkpoint or all zeros'), 1)

            # the one-pass sweep reports, per alpha, what tools/test.py does
            sweep_dir = osp.join(work, 'sweep')
            subprocess.run(
                [
                    sys.executable, 'tools/sweep_alpha.py', CAUSAL, ckpt,
                    '--alphas', '0', '1.5', '--eval', 'bbox', 'segm', '--out',
                    sweep_dir, '--cfg-options',
                    'test_dataloader.num_workers=0',
                    'test_dataloader.persistent_workers=False'
                ] + data_opts,
                cwd=ROOT,
                check=True,
                capture_output=True)
            with open(osp.join(sweep_dir, 'sweep.json')) as f:
                sweep = json.load(f)
            for alpha, ref in (('1.5', results['tde']), ('0.0',
                                                         results['plain'])):
                got = sweep['metrics'][alpha]
                self.assertEqual(set(got), set(ref['metrics']))
                for key, value in ref['metrics'].items():
                    self.assertAlmostEqual(
                        got[key], value, delta=1e-6, msg=f'{alpha} {key}')
            self.assertTrue(osp.exists(osp.join(sweep_dir, 'sweep.png')))
            self.assertIsNotNone(sweep['rule_of_thumb_alpha'])


class TestBadConfig(unittest.TestCase):

    def test_num_classes_differing_from_the_dataset_stops_training(self):
        with tempfile.TemporaryDirectory() as tmp:
            data = osp.join(tmp, 'data')
            generate_tiny_lvis(data, SMALL)
            proc = subprocess.run(
                [
                    sys.executable, 'tools/train.py', CAUSAL, '--work-dir',
                    osp.join(tmp, 'work'), '--cfg-options',
                    'model.roi_head.bbox_head.1.num_classes=12',
                    'train_dataloader.num_workers=0',
                    'train_dataloader.persistent_workers=False'
                ] + [
                    f'{split}_dataloader.dataset.data_root={data}/'
                    for split in ('train', 'val')
                ] + [
                    f'val_evaluator.ann_file={data}/annotations/'
                    'lvis_v1_val.json'
                ],
                cwd=ROOT,
                capture_output=True,
                text=True)
            self.assertFalse(osp.exists(osp.join(tmp, 'work', 'epoch_1.pth')))
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn('has 16 classes', proc.stderr)
        self.assertIn('roi_head.bbox_head.1 (12)', proc.stderr)
        self.assertIn('Set num_classes=16', proc.stderr)


class TestResume(unittest.TestCase):

    def test_resume_mid_run_equals_uninterrupted_run(self):
        """2 epochs in one go, and 1 epoch + --resume from its checkpoint:
        the same weights, moving averages and optimizer state, bit for bit
        (CPU, num_workers=0; IterationSeedHook reseeds the generators)."""
        with tempfile.TemporaryDirectory() as tmp:
            data = osp.join(tmp, 'data')
            generate_tiny_lvis(data, SMALL)
            options = [
                f'{split}_dataloader.dataset.data_root={data}/'
                for split in ('train', 'val')
            ] + [
                f'val_evaluator.ann_file={data}/annotations/lvis_v1_val.json',
                'train_cfg.max_epochs=2',
                'default_hooks.checkpoint.interval=1',
                'default_hooks.checkpoint.max_keep_ckpts=-1',
                'train_dataloader.num_workers=0',
                'train_dataloader.persistent_workers=False'
            ]

            def train(work, *extra):
                subprocess.run(
                    [
                        sys.executable, 'tools/train.py', CAUSAL, '--work-dir',
                        osp.join(tmp, work), *extra, '--cfg-options'
                    ] + options,
                    cwd=ROOT,
                    check=True,
                    capture_output=True)
                return torch.load(
                    osp.join(tmp, work, 'epoch_2.pth'),
                    map_location='cpu',
                    weights_only=False)

            whole = train('whole')
            resumed = train('resumed', '--resume',
                            osp.join(tmp, 'whole', 'epoch_1.pth'))
        self.assertEqual(resumed['meta']['iter'], whole['meta']['iter'])
        self.assertEqual(set(resumed['state_dict']), set(whole['state_dict']))
        embeds = [k for k in whole['state_dict'] if k.endswith('causal_embed')]
        self.assertEqual(len(embeds), 3)
        for key, value in whole['state_dict'].items():
            self.assertTrue(
                torch.equal(resumed['state_dict'][key], value), key)
        momenta = whole['optimizer']['state']
        self.assertTrue(momenta)
        for index, state in momenta.items():
            self.assertTrue(
                torch.equal(
                    resumed['optimizer']['state'][index]['momentum_buffer'],
                    state['momentum_buffer']))


if __name__ == '__main__':
    unittest.main()
