# Copyright (c) mmdet-causal contributors. All rights reserved.
"""tools/train.py and tools/test.py end to end on a small tiny-LVIS, and the
TDE switches of tools/test.py."""
import contextlib
import importlib.util
import io
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import unittest
import unittest.mock

import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

import mmdet_causal  # noqa: F401
from mmdet_causal.testing import TinyLVISSpec, generate_tiny_lvis
from mmdet_causal.testing.cpu_distributed import run_on_cpu_ranks
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

    def test_pytorch_launcher_without_torchrun_names_the_launchers(self):
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'MASTER_ADDR',
                         'MASTER_PORT')
        }
        for tool, args in (('train', [CAUSAL]), ('test', [CAUSAL, 'x.pth'])):
            proc = subprocess.run([
                sys.executable, f'tools/{tool}.py', *args, '--launcher',
                'pytorch'
            ],
                                  cwd=ROOT,
                                  env=env,
                                  capture_output=True,
                                  text=True)
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn(f'tools/dist_{tool}.sh', proc.stderr)
            self.assertIn('torchrun', proc.stderr)
            self.assertNotIn('KeyError', proc.stderr)

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


def _run(args):
    """Run a tool; on failure, fail with the end of its stderr."""
    proc = subprocess.run(
        [sys.executable] + args, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        raise AssertionError(f'{" ".join(args[:1])} exited with '
                             f'{proc.returncode}:\n{proc.stderr[-3000:]}')
    return proc


class TestSweepFlags(unittest.TestCase):
    """tools/test.py's sweep flags become a DebiasSweepTestLoop config,
    merged over one the config already has."""

    @classmethod
    def setUpClass(cls):
        spec = importlib.util.spec_from_file_location(
            'mmdet_causal_test_tool', osp.join(ROOT, 'tools', 'test.py'))
        cls.tool = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cls.tool)

    def args(self, *argv):
        with unittest.mock.patch.object(sys, 'argv',
                                        ['test.py', 'CFG', 'CKPT', *argv]):
            return self.tool.parse_args()

    def test_flags_set_the_loop(self):
        cfg = Config(dict(test_cfg=dict(type='TestLoop', fp16=True)))
        self.tool.set_sweep_loop(
            cfg,
            self.args('--tde-alphas', '0', '1', '--norcal-gamma', '0.5',
                      '--count-by', 'image', '--select-on', 'h.json'))
        self.assertEqual(
            dict(cfg.test_cfg),
            dict(
                type='DebiasSweepTestLoop',
                fp16=True,
                alphas=[0.0, 1.0],
                norcal_gammas=[0.5],
                select_on='h.json',
                count='image_count'))

    def test_flags_merge_over_a_config_loop(self):
        cfg = Config(
            dict(
                test_cfg=dict(
                    type='DebiasSweepTestLoop',
                    alphas=[0.5],
                    class_counts='train.json',
                    select_on='h.json',
                    select_metric='segm_APr')))
        self.tool.set_sweep_loop(
            cfg, self.args('--tde-alphas', '1', '2', '--select-on', 'o.json'))
        self.assertEqual(cfg.test_cfg.alphas, [1.0, 2.0])
        self.assertEqual(cfg.test_cfg.select_on, 'o.json')
        # what the flags do not say stays as the config has it
        self.assertEqual(cfg.test_cfg.class_counts, 'train.json')
        self.assertEqual(cfg.test_cfg.select_metric, 'segm_APr')
        self.assertNotIn('count', cfg.test_cfg)

    def test_refusals(self):
        cfg = Config(dict(test_cfg=dict(type='MyTestLoop')))
        with self.assertRaisesRegex(ValueError, 'MyTestLoop'):
            self.tool.set_sweep_loop(cfg, self.args('--tde-alphas', '1'))
        for argv in (('--tde-alphas', '1', '--tde-alpha',
                      '2'), ('--norcal-gammas', '1', '--out', 'x.pkl'),
                     ('--norcal-gamma', '1', '--norcal-gammas',
                      '2'), ('--select-on', 'h.json')):
            with self.assertRaises(SystemExit), \
                    contextlib.redirect_stderr(io.StringIO()):
                self.args(*argv)


class TestTrainTestEndToEnd(unittest.TestCase):
    """One small training with tools/train.py; every test below tests its
    checkpoint with tools/test.py."""

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        tmp = cls._tmp.name
        cls.data = data = osp.join(tmp, 'data')
        cls.paths = generate_tiny_lvis(data, SMALL)
        cls.work = work = osp.join(tmp, 'work')
        # every dataloader and evaluator at the generated data: the
        # runner builds the val evaluator (which loads its ann_file) even
        # when no validation runs
        cls.data_opts = [
            f'{split}_dataloader.dataset.data_root={data}/'
            for split in ('train', 'val', 'test')
        ] + [
            f'{split}_evaluator.ann_file={data}/annotations/'
            'lvis_v1_val.json' for split in ('val', 'test')
        ]
        cls.test_opts = [
            'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False'
        ] + cls.data_opts
        _run([
            'tools/train.py', CAUSAL, '--work-dir', work, '--cfg-options',
            'train_cfg.max_epochs=1', 'default_hooks.checkpoint.interval=1',
            'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False'
        ] + cls.data_opts)
        cls.ckpt = osp.join(work, 'epoch_1.pth')
        cls.results, cls.stdout = {}, {}
        for name, extra in (('tde', []), ('plain', ['--no-tde'])):
            out = osp.join(work, f'{name}.json')
            proc = _run([
                'tools/test.py', CAUSAL, cls.ckpt, '--work-dir', work,
                '--eval', 'bbox', 'segm', '--metrics-out', out, '--cfg-options'
            ] + cls.test_opts + extra)
            cls.stdout[name] = proc.stdout
            with open(out) as f:
                cls.results[name] = json.load(f)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def assertMetricsEqual(self, got, ref, msg=''):
        self.assertEqual(set(got), set(ref), msg)
        for key, value in ref.items():
            self.assertAlmostEqual(
                got[key], value, delta=1e-6, msg=f'{msg} {key}')

    def test_checkpoint_and_lvis_metrics(self):
        state = torch.load(self.ckpt, map_location='cpu', weights_only=False)
        embeds = [k for k in state['state_dict'] if k.endswith('causal_embed')]
        self.assertEqual(len(embeds), 3)
        for key in embeds:
            self.assertTrue(torch.isfinite(state['state_dict'][key]).all())
            self.assertGreater(state['state_dict'][key].abs().sum(), 0)
        # the training set's class counts travel with the checkpoint
        with open(self.paths['train']) as f:
            train = json.load(f)
        counts = state['meta']['class_counts']
        self.assertEqual(counts['classes'],
                         [c['name'] for c in train['categories']])
        for i, cat in enumerate(train['categories']):
            anns = [
                a for a in train['annotations']
                if a['category_id'] == cat['id']
            ]
            self.assertEqual(counts['instance_count'][i], len(anns))
            self.assertEqual(counts['image_count'][i],
                             len({a['image_id']
                                  for a in anns}))

        metrics = self.results['tde']['metrics']
        for iou in ('bbox', 'segm'):
            for key in ('AP', 'AP50', 'APr', 'APc', 'APf'):
                self.assertIn(f'lvis/{iou}_{key}', metrics)
        # the heads report cos for the rule-of-thumb alpha with TDE on
        tde = self.results['tde']
        self.assertEqual(len(tde['cos_stats']), 3)
        self.assertGreater(tde['cos_stats'][0]['num_rois'], 0)
        self.assertIn('rule-of-thumb alpha', self.stdout['tde'])
        means = [s['mean'] for s in tde['cos_stats']]
        self.assertAlmostEqual(tde['rule_of_thumb_alpha'],
                               1 / (sum(means) / len(means)))
        # --no-tde: plain cosine scores, nothing recorded
        self.assertEqual(self.results['plain']['cos_stats'][0]['num_rois'], 0)

    def test_untrained_average_warns_once(self):
        """A checkpoint without the moving averages (as a stock model's
        would be): one warning for the whole run, not one per head, and
        none per image."""
        stock_like = osp.join(self.work, 'no_embed.pth')
        state = torch.load(self.ckpt, map_location='cpu', weights_only=False)
        state['state_dict'] = {
            k: v
            for k, v in state['state_dict'].items()
            if not k.endswith('causal_embed')
        }
        torch.save(state, stock_like)
        proc = _run([
            'tools/test.py', CAUSAL, stock_like, '--work-dir', self.work,
            '--eval', 'bbox', '--cfg-options'
        ] + self.test_opts)
        self.assertEqual((proc.stdout + proc.stderr).count(
            'causal_embed is missing from the checkpoint or all zeros'), 1)

    def test_alpha_sweep_equals_tools_test(self):
        """The one-pass sweep (through the sweep_alpha.py alias) reports,
        per alpha, what tools/test.py does."""
        sweep_dir = osp.join(self.work, 'sweep_alpha')
        _run([
            'tools/sweep_alpha.py', CAUSAL, self.ckpt, '--alphas', '0', '1.5',
            '--eval', 'bbox', 'segm', '--out', sweep_dir, '--cfg-options'
        ] + self.test_opts)
        with open(osp.join(sweep_dir, 'sweep.json')) as f:
            sweep = json.load(f)
        self.assertEqual(list(sweep['test']), ['alpha=0', 'alpha=1.5'])
        self.assertMetricsEqual(sweep['test']['alpha=1.5'],
                                self.results['tde']['metrics'], 'alpha 1.5')
        self.assertMetricsEqual(sweep['test']['alpha=0'],
                                self.results['plain']['metrics'], 'alpha 0')
        self.assertTrue(osp.exists(osp.join(sweep_dir, 'sweep.png')))
        self.assertIn('| alpha=1.5 |',
                      open(osp.join(sweep_dir, 'sweep.md')).read())
        self.assertIsNotNone(sweep['rule_of_thumb_alpha'])

    def test_sweep_from_the_config(self):
        """No sweep flag: the config's own test_cfg names the loop."""
        out = osp.join(self.work, 'config_loop')
        _run([
            'tools/test.py', CAUSAL, self.ckpt, '--work-dir', out, '--eval',
            'bbox', 'segm', '--cfg-options',
            'test_cfg.type=DebiasSweepTestLoop', 'test_cfg.alphas=[1.5]',
            f'test_cfg.out_dir={out}'
        ] + self.test_opts)
        with open(osp.join(out, 'sweep.json')) as f:
            sweep = json.load(f)
        self.assertMetricsEqual(sweep['test']['alpha=1.5'],
                                self.results['tde']['metrics'])

    def assertTestFails(self, argv, message):
        """tools/test.py with ``argv`` exits non-zero saying ``message``."""
        proc = subprocess.run(
            [sys.executable, 'tools/test.py'] + argv,
            cwd=ROOT,
            capture_output=True,
            text=True)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(message, proc.stderr)

    def sweep(self, name, *flags):
        out = osp.join(self.work, name)
        return [
            CAUSAL, self.ckpt, '--work-dir', out, '--sweep-out', out, '--eval',
            'bbox', 'segm', '--metrics-out',
            osp.join(out, 'metrics.json'), *flags, '--cfg-options'
        ] + self.test_opts, out

    def held_out_file(self):
        """A selection file other than the test one: the small spec's own
        held-out split is empty (too few images per class to lend any), so
        half of val stands in for it."""
        with open(self.paths['val']) as f:
            val = json.load(f)
        keep = {img['id'] for img in val['images'][::2]}
        val['images'] = [img for img in val['images'] if img['id'] in keep]
        val['annotations'] = [
            a for a in val['annotations'] if a['image_id'] in keep
        ]
        path = osp.join(self.data, 'annotations', 'select.json')
        with open(path, 'w') as f:
            json.dump(val, f)
        return path

    def test_norcal_from_the_checkpoint_chosen_on_the_held_out_split(self):
        argv, out = self.sweep('norcal', '--norcal-gammas',
                               '0', '0.5', '1', '--select-on',
                               self.held_out_file(), '--select-metric',
                               'bbox_AP')
        proc = _run(['tools/test.py'] + argv)
        # half of val stands in for a held-out split: the user is told
        self.assertIn('images with the test set', proc.stdout + proc.stderr)
        with open(osp.join(out, 'sweep.json')) as f:
            sweep = json.load(f)
        with open(osp.join(out, 'metrics.json')) as f:
            metrics = json.load(f)['metrics']
        # counts from the checkpoint; the rows name the alpha the model
        # runs at, and gamma 0 is the model as configured
        self.assertEqual(sweep['class_counts']['source'], 'checkpoint')
        self.assertEqual([s['alpha'] for s in sweep['settings']],
                         [1.5, 1.5, 1.5])
        self.assertEqual(
            list(sweep['test']),
            ['alpha=1.5,gamma=0', 'alpha=1.5,gamma=0.5', 'alpha=1.5,gamma=1'])
        self.assertMetricsEqual(sweep['test']['alpha=1.5,gamma=0'],
                                self.results['tde']['metrics'], 'gamma 0')
        self.assertNotEqual(sweep['test']['alpha=1.5,gamma=1']['lvis/bbox_AP'],
                            sweep['test']['alpha=1.5,gamma=0']['lvis/bbox_AP'])
        # the strength is the held-out split's best; the test set is
        # reported at it under the plain keys
        select = sweep['select']
        best = max(select, key=lambda n: select[n]['lvis/bbox_AP'])
        self.assertEqual(sweep['selected']['name'], best)
        self.assertEqual(sweep['selected']['select_value'],
                         select[best]['lvis/bbox_AP'])
        self.assertMetricsEqual(sweep['selected']['test_metrics'],
                                sweep['test'][best])
        for key, value in sweep['test'][best].items():
            self.assertAlmostEqual(metrics[key], value, delta=1e-6)
        # the held-out split is its own evaluation, not the test set's
        self.assertNotEqual(select['alpha=1.5,gamma=0'],
                            sweep['test']['alpha=1.5,gamma=0'])

    def test_empty_selection_set_is_named(self):
        with open(self.paths['heldout']) as f:  # too small a set to carve
            self.assertEqual(json.load(f)['images'], [])
        argv, _ = self.sweep('empty_select', '--tde-alphas', '0', '1',
                             '--select-on', self.paths['heldout'])
        self.assertTestFails(argv, 'has no images to test')

    def test_selection_without_ground_truth_is_refused(self):
        """A held-out file whose images have no annotation: every AP would
        be -1 and the first strength 'chosen'; refused before inference."""
        path = self.held_out_file()
        with open(path) as f:
            data = json.load(f)
        data['annotations'] = []
        empty = osp.join(self.data, 'annotations', 'select_empty.json')
        with open(empty, 'w') as f:
            json.dump(data, f)
        argv, _ = self.sweep('no_gt_select', '--tde-alphas', '1.5', '2.5',
                             '--select-on', empty)
        self.assertTestFails(argv, 'has no annotations')

    def test_selection_on_the_test_set_is_refused(self):
        argv, _ = self.sweep('test_select', '--tde-alphas', '0', '1',
                             '--select-on', self.paths['val'])
        self.assertTestFails(argv, 'is the test set')

    def test_select_metric_typo_is_refused_before_inference(self):
        argv, _ = self.sweep('typo_select',
                             '--tde-alphas', '0', '1', '--select-on',
                             self.held_out_file(), '--select-metric',
                             'bbox_APrare')
        self.assertTestFails(argv, 'use one of: bbox_AP, bbox_AP50')

    def test_test_set_without_annotations_is_refused(self):
        """Not every AP as -1 with exit 0: the file is named before
        inference, with the way to only save detections."""
        with open(self.paths['val']) as f:
            data = json.load(f)
        data['annotations'] = []
        empty = osp.join(self.data, 'annotations', 'val_empty.json')
        with open(empty, 'w') as f:
            json.dump(data, f)
        argv, _ = self.sweep('no_gt_test')
        argv += [
            f'test_dataloader.dataset.ann_file={empty}',
            f'test_evaluator.ann_file={empty}'
        ]
        self.assertTestFails(argv, 'val_empty.json')

    def test_norcal_counts_never_from_the_test_set(self):
        argv, _ = self.sweep('bad_counts', '--norcal-gammas', '0.5',
                             '--class-counts',
                             f'{self.data}/annotations/lvis_v1_val.json')
        self.assertTestFails(argv, 'training set only')

    def test_two_processes_equal_one(self):
        """tools/dist_test.sh ... 2 --tde-alphas ... --norcal-gammas ...:
        two gloo processes, each testing half the images, report the
        metrics of one process."""
        flags = ('--tde-alphas', '0', '1.5', '--norcal-gammas', '0', '0.5')
        one, one_out = self.sweep('one_process', *flags)
        _run(['tools/test.py'] + one)
        two, two_out = self.sweep('two_processes', *flags)
        # tools/dist_test.sh ... 2 on the CPU (see run_on_cpu_ranks)
        run_on_cpu_ranks(
            osp.join(ROOT, 'tools', 'test.py'),
            two + ['env_cfg.dist_cfg.backend=gloo'],
            nprocs=2,
            threads=1)
        reports = []
        for out in (one_out, two_out):
            with open(osp.join(out, 'sweep.json')) as f:
                reports.append(json.load(f))
        self.assertEqual(
            list(reports[0]['test']), [
                'alpha=0,gamma=0', 'alpha=0,gamma=0.5', 'alpha=1.5,gamma=0',
                'alpha=1.5,gamma=0.5'
            ])
        self.assertEqual([r['world_size'] for r in reports], [1, 2])
        # the heads' cos statistics are summed over the ranks; mmengine's
        # sampler pads the ranks to equal length with the first images, so
        # two ranks see up to one image more than one process
        with open(self.paths['val']) as f:
            num_images = len(json.load(f)['images'])
        padded = num_images + num_images % 2
        for one_rank, two_ranks in zip(reports[0]['cos_stats'],
                                       reports[1]['cos_stats']):
            self.assertGreaterEqual(two_ranks['num_rois'],
                                    one_rank['num_rois'])
            self.assertLessEqual(two_ranks['num_rois'],
                                 one_rank['num_rois'] * padded / num_images)
            self.assertAlmostEqual(
                two_ranks['mean'], one_rank['mean'], delta=0.01)
        for name, ref in reports[0]['test'].items():
            self.assertMetricsEqual(reports[1]['test'][name], ref, name)
        self.assertGreater(
            reports[0]['test']['alpha=0,gamma=0']['lvis/bbox_AP'], 0)


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

    def test_training_file_without_annotations_names_it(self):
        """Not mmengine's 'need at least one array to concatenate'."""
        with tempfile.TemporaryDirectory() as tmp:
            data = osp.join(tmp, 'data')
            paths = generate_tiny_lvis(data, SMALL, write_images=False)
            with open(paths['train']) as f:
                train = json.load(f)
            train['annotations'] = []
            with open(paths['train'], 'w') as f:
                json.dump(train, f)
            proc = subprocess.run([
                sys.executable, 'tools/train.py', CAUSAL, '--work-dir',
                osp.join(tmp, 'work'), '--cfg-options',
                f'train_dataloader.dataset.data_root={data}/',
                'train_dataloader.num_workers=0',
                'train_dataloader.persistent_workers=False'
            ],
                                  cwd=ROOT,
                                  capture_output=True,
                                  text=True)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn('the train dataset has no image to use', proc.stderr)
        self.assertIn('lvis_v1_train.json', proc.stderr)


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
