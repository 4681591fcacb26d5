# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The long-tail study without training: its configs, the run cache (an
interrupted study resumes), and the aggregation over seeds, on synthetic
metrics."""
import glob
import json
import math
import os
import os.path as osp
import re
import sys
import tempfile
import unittest
from unittest import mock

import numpy as np
from mmengine.config import Config

import mmdet_causal  # noqa: F401
from mmdet_causal.testing import TinyLVISSpec, generate_tiny_lvis

STUDY_DIR = osp.join(
    osp.dirname(__file__), '..', '..', 'benchmarks', 'long_tail')
sys.path.insert(0, osp.abspath(STUDY_DIR))
import run as study_run  # noqa: E402
import study  # noqa: E402

STUDY_6400 = osp.join(STUDY_DIR, 'study_6400')
STUDY_LT2 = osp.join(STUDY_DIR, 'study_longtail2')
#: six models, three seeds
RUNS_PER_STUDY = 18


def runs_in(study_dir: str) -> int:
    return len(glob.glob(osp.join(study_dir, 'runs', '*.json')))


#: the 6400-iteration study's records are all in: its tables, its
#: conclusions and the README's reading of all three studies must be
#: committed with the last of them (before, the checks that need them skip)
SCHEDULE_DONE = runs_in(STUDY_6400) >= RUNS_PER_STUDY


def skip_while_running(case: unittest.TestCase, *study_dirs: str) -> None:
    """Skip while a study's campaign runs (its tables come with its last
    record), naming how many of its runs are in."""
    for d in study_dirs:
        if runs_in(d) < RUNS_PER_STUDY:
            case.skipTest(f'{osp.basename(d)}: {runs_in(d)} of its '
                          f'{RUNS_PER_STUDY} runs in; its tables come with '
                          'the last')


STRENGTHS = {
    'stock': ['gamma=0', 'gamma=0.5'],
    'causal': ['alpha=0', 'alpha=1.5', 'alpha=3'],
    'causal_rfs': ['alpha=0', 'alpha=1.5', 'alpha=3'],
}


def fake_metrics(rng, names):
    m = {
        study.metric_key(iou, c): float(rng.uniform(0.05, 0.6))
        for iou in study.IOU_TYPES
        for c in study.COLUMNS
    }
    for iou in study.IOU_TYPES:
        for k, name in enumerate(names):
            # one class without ground truth
            m[f'lvis/{iou}_{name}_precision'] = (
                float('nan') if k == 0 else round(float(rng.uniform()), 3))
    return m


def fake_record(model, seed, names, iters=20):
    rng = np.random.RandomState(hash((model, seed)) % 2**31)
    strengths = STRENGTHS.get(model, [study.PLAIN])
    val = {s: fake_metrics(rng, names) for s in strengths}
    selected = strengths[seed % len(strengths)] if model in STRENGTHS \
        else None
    curve = [
        dict(iter=it, metrics=fake_metrics(rng, names)) for it in (5, 10, 15)
    ] if model in study.CURVE_MODELS else []
    return dict(
        model=model,
        seed=seed,
        inputs=dict(iters=iters),
        val=val,
        heldout=None,
        selected=selected,
        curve=curve,
        train_s=1.0,
        test_s=0.5)


def assert_nested_close(got, ref, path='') -> None:
    """Equal structure and non-float values, floats equal to 1e-9."""
    assert type(got) is type(ref), (path, got, ref)
    if isinstance(ref, dict):
        assert got.keys() == ref.keys(), (path, set(got) ^ set(ref))
        for key in ref:
            assert_nested_close(got[key], ref[key], f'{path}/{key}')
    elif isinstance(ref, list):
        assert len(got) == len(ref), path
        for i, (g, r) in enumerate(zip(got, ref)):
            assert_nested_close(g, r, f'{path}/{i}')
    elif isinstance(ref, float):
        assert math.isclose(
            got, ref, rel_tol=1e-9,
            abs_tol=1e-12) or (math.isnan(got) and math.isnan(ref)), (path,
                                                                      got, ref)
    else:
        assert got == ref, (path, got, ref)


class TestAggregation(unittest.TestCase):

    def setUp(self):
        self.names = ['a', 'b', 'c']
        self.seeds = [0, 1, 2]
        self.records = {
            (m, s): fake_record(m, s, self.names)
            for m in study.MODELS
            for s in self.seeds
        }

    def test_means_and_spreads_equal_numpy(self):
        table = study.aggregate(self.records, study.ROWS, self.seeds)
        self.assertEqual(list(table), [r[0] for r in study.ROWS])
        for row, model, strength in study.ROWS:
            for iou in study.IOU_TYPES:
                for col in study.COLUMNS:
                    values = []
                    for s in self.seeds:
                        rec = self.records[(model, s)]
                        name = rec['selected'] if strength == \
                            study.SELECTED else strength
                        values.append(100 *
                                      rec['val'][name][f'lvis/{iou}_{col}'])
                    cell = table[row]['cells'][f'{iou}_{col}']
                    self.assertAlmostEqual(cell['mean'], np.mean(values))
                    self.assertAlmostEqual(cell['std'], np.std(values, ddof=1))
                    self.assertEqual(cell['seeds'], values)

    def test_selected_rows_use_each_seeds_pick(self):
        table = study.aggregate(self.records, study.ROWS, self.seeds)
        row = table['TDE, held-out alpha']
        self.assertEqual(row['picked'], ['alpha=0', 'alpha=1.5', 'alpha=3'])
        self.assertIsNone(table['stock + RFS']['picked'])

    def test_one_seed_has_no_spread_and_no_real_difference(self):
        table = study.aggregate(self.records, study.ROWS, [0])
        cell = table['stock + RFS']['cells']['bbox_AP']
        self.assertTrue(math.isnan(cell['std']))
        comparison = study.compare(table)
        self.assertFalse(
            any(c['real'] for row in comparison.values()
                for c in row.values()))
        self.assertNotIn('±', study.markdown_table(table).split('\n')[2])
        # no paired table of n/a: one seed's pair is the difference above
        self.assertNotIn('paired by seed',
                         study.markdown_comparison(comparison))

    def test_every_grid_holds_the_strengths_the_rows_name(self):
        # a row at a strength no sweep tested fails only at aggregation
        for alphas, gammas in ((study.ALPHAS, study.GAMMAS),
                               (study.QUICK_ALPHAS, study.QUICK_GAMMAS)):
            tested = {f'alpha={a:g}' for a in alphas}
            tested |= {f'gamma={g:g}' for g in gammas}
            named = {s for _, _, s in study.ROWS}
            named |= set(study.CURVE_STRENGTH.values())
            self.assertLessEqual(named - {study.PLAIN, study.SELECTED}, tested)

    def test_compare_calls_only_differences_beyond_twice_the_spread(self):
        table = {
            'ref': dict(cells=dict(x=dict(mean=30.0, std=1.0))),
            'near': dict(cells=dict(x=dict(mean=28.5, std=0.5))),  # 1.5 <= 2
            'far': dict(cells=dict(x=dict(mean=27.5, std=1.2))),  # 2.5 > 2.4
        }
        out = study.compare(table, reference='ref')
        self.assertAlmostEqual(out['near']['x']['diff'], 1.5)
        self.assertEqual(out['near']['x']['spread'], 1.0)
        self.assertFalse(out['near']['x']['real'])
        self.assertTrue(out['far']['x']['real'])
        self.assertNotIn('ref', out)

    def test_rows_of_the_same_model_are_also_paired_by_seed(self):
        table = study.aggregate(self.records, study.ROWS, self.seeds)
        out = study.compare(table)
        ref = table[study.REFERENCE_ROW]['cells']['segm_APr']['seeds']
        alpha0 = table['de-confound (causal, alpha 0)']['cells']['segm_APr']
        paired = out['de-confound (causal, alpha 0)']['segm_APr']['paired']
        diffs = np.subtract(ref, alpha0['seeds'])
        np.testing.assert_allclose(paired['diffs'], diffs)
        self.assertAlmostEqual(paired['mean'], diffs.mean())
        self.assertAlmostEqual(paired['std'], diffs.std(ddof=1))
        self.assertEqual(paired['real'],
                         abs(diffs.mean()) > 2 * diffs.std(ddof=1))
        # other models are not paired with the causal one
        self.assertNotIn('paired', out['stock + RFS']['segm_APr'])
        md = study.markdown_comparison(out)
        self.assertIn('same model, paired by seed', md)
        paired_rows = md.split('paired by seed')[1]
        self.assertIn('TDE, published alpha 1.5', paired_rows)
        self.assertNotIn('Seesaw', paired_rows)

    def test_a_consistent_paired_gain_is_real_when_the_spreads_hide_it(self):
        table = {
            'ref':
            dict(
                model='m',
                cells=dict(
                    x=dict(mean=31.0, std=5.0, seeds=[26.0, 31.0, 36.0]))),
            'same':
            dict(
                model='m',
                cells=dict(
                    x=dict(mean=29.0, std=5.0, seeds=[24.0, 29.1, 33.9]))),
        }
        out = study.compare(table, reference='ref')['same']['x']
        self.assertFalse(out['real'])  # 2.0 < 2 * 5
        self.assertTrue(out['paired']['real'])  # 2.0 > 2 * 0.1

    def test_per_class_ap_averages_seeds_and_skips_nan(self):
        rows = [r for r in study.ROWS if r[1] == 'seesaw']
        out = study.per_class_ap(self.records, rows, self.seeds, self.names,
                                 'segm')
        (row, model, _), = rows
        for k, name in enumerate(self.names):
            values = [
                self.records[(
                    model,
                    s)]['val'][study.PLAIN][f'lvis/segm_{name}_precision']
                for s in self.seeds
            ]
            if k == 0:
                self.assertTrue(math.isnan(out[row][k]))
            else:
                self.assertAlmostEqual(out[row][k], np.mean(values))

    def test_missing_strength_names_the_run(self):
        with self.assertRaisesRegex(KeyError, 'causal_seed0.*alpha=9'):
            study.row_metrics(self.records[('causal', 0)], 'alpha=9')

    def test_curve_appends_the_final_checkpoint(self):
        rec = self.records[('causal', 0)]
        points = study.curve_points(rec)
        self.assertEqual([p['iter'] for p in points], [5, 10, 15, 20])
        self.assertIs(points[-1]['metrics'], rec['val']['alpha=0'])


class TestCacheAndConfigs(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.root = osp.join(cls.tmp.name, 'data')
        generate_tiny_lvis(
            cls.root,
            TinyLVISSpec(
                num_classes=6, train_images=20, val_images_per_class=1),
            write_images=False)
        ann = osp.join(cls.root, 'annotations')
        cls.data = study.StudyData(cls.root, osp.join(ann,
                                                      'lvis_v1_train.json'),
                                   osp.join(ann, 'lvis_v1_heldout.json'),
                                   osp.join(ann, 'lvis_v1_val.json'))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_cache_hits_only_the_same_inputs(self):
        with tempfile.TemporaryDirectory() as tmp:
            cache = study.RunCache(tmp)
            inputs = study.run_inputs('causal', 'data0', 'cfg0', 100)
            self.assertIsNone(cache.get('causal', 0, inputs))
            cache.put('causal', 0, inputs, dict(val={'alpha=0': {}}))
            self.assertEqual(os.listdir(tmp), ['causal_seed0.json'])
            got = cache.get('causal', 0, inputs)
            self.assertEqual((got['model'], got['seed']), ('causal', 0))
            for changed in (study.run_inputs('causal', 'data1', 'cfg0', 100),
                            study.run_inputs('causal', 'data0', 'cfg1', 100),
                            study.run_inputs('causal', 'data0', 'cfg0', 200),
                            study.run_inputs('causal', 'data0', 'cfg0', 100,
                                             study.QUICK_ALPHAS)):
                self.assertIsNone(cache.get('causal', 0, changed))
            stock = study.run_inputs('stock', 'data0', 'cfg0', 100)
            cache.put('stock', 0, stock, dict(val={'gamma=0': {}}))
            self.assertIsNone(
                cache.get(
                    'stock', 0,
                    study.run_inputs(
                        'stock',
                        'data0',
                        'cfg0',
                        100,
                        gammas=study.QUICK_GAMMAS)))
            self.assertIsNotNone(cache.get('stock', 0, stock))
            self.assertIsNone(cache.get('causal', 1, inputs))

    def test_an_older_spelling_of_a_config_is_the_same_run(self):
        """A NormedLinear left at its default temperature is the config
        that named it (20, as mmdet 3.3 spells it): its second fingerprint,
        under which the cache serves a record; a temperature named
        otherwise is another config, and a config without NormedLinear has
        only its own."""
        cfg = study.study_config('seesaw', self.data, 120, 7, 30)
        fingerprints = study.config_fingerprints(cfg)

        def naming(**predictor):
            named = study.study_config('seesaw', self.data, 120, 7, 30)
            for head in named.model.roi_head.bbox_head:
                head.cls_predictor_cfg = dict(type='NormedLinear', **predictor)
            return named

        old = study.config_fingerprint(naming(tempearture=20))
        self.assertEqual(fingerprints, [study.config_fingerprint(cfg), old])
        self.assertEqual(
            study.config_fingerprints(naming(tempearture=20)), [old])
        other = study.config_fingerprint(naming(tempearture=10))
        self.assertNotIn(other, fingerprints)
        stock = study.study_config('stock', self.data, 120, 7, 30)
        self.assertEqual(
            study.config_fingerprints(stock),
            [study.config_fingerprint(stock)])
        with tempfile.TemporaryDirectory() as tmp:
            cache = study.RunCache(tmp)
            made = study.run_inputs('seesaw', 'd', old, 120)
            cache.put('seesaw', 7, made, dict(val={'model': {}}))
            now = study.run_inputs('seesaw', 'd', fingerprints[0], 120)
            self.assertIsNone(cache.get('seesaw', 7, now))
            self.assertEqual(
                cache.get('seesaw', 7, now, fingerprints[1:])['inputs'], made)
            self.assertIsNone(cache.get('seesaw', 7, now, [other]))

    def test_study_config_changes_only_data_schedule_and_seed(self):
        n_train = self.data.num_train_images()
        for model, spec in study.MODELS.items():
            with self.subTest(model=model):
                cfg = study.study_config(model, self.data, 120, 7, 30)
                base = Config.fromfile(
                    osp.join(study.ROOT, 'configs', spec.config))
                heads = cfg.model.roi_head.bbox_head
                for head, ref in zip(heads, base.model.roi_head.bbox_head):
                    self.assertEqual(head.num_classes, 6)
                    self.assertEqual(head.type, ref.type)
                    self.assertEqual(head.loss_cls.type, ref.loss_cls.type)
                    if 'num_classes' in ref.loss_cls:
                        self.assertEqual(head.loss_cls.num_classes, 6)
                self.assertEqual(cfg.train_cfg.max_iters, 120)
                self.assertEqual(cfg.param_scheduler[1].milestones, [90])
                self.assertEqual(cfg.randomness.seed, 7)
                self.assertTrue(cfg.test_evaluator.classwise)
                self.assertEqual(cfg.test_evaluator.ann_file, self.data.val)
                train = cfg.train_dataloader.dataset
                if spec.rfs:
                    self.assertEqual(train.type, 'ClassBalancedDataset')
                    self.assertAlmostEqual(train.oversample_thr, 100 / n_train)
                    train = train.dataset
                self.assertEqual(train.ann_file, self.data.train)
                self.assertEqual(len(train.metainfo['classes']), 6)
                # what the row's method is made of survives
                self.assertEqual(cfg.model.roi_head.type,
                                 base.model.roi_head.type)
                self.assertEqual(cfg.optim_wrapper, base.optim_wrapper)

    def test_a_run_reuses_its_finished_steps(self):
        """A restarted run does not train or test again what its work dir
        holds from the same inputs, and clears one made with others."""
        names = [c['name'] for c in self.data.categories()]
        metrics = fake_metrics(np.random.RandomState(0), names)
        calls = []

        def fake_run(cmd, log_file):
            calls.append(cmd[1])
            wd = cmd[cmd.index('--work-dir') + 1]
            # mmengine's runner dumps the config it runs into its work dir:
            # never the study's own config
            self.assertNotEqual(osp.dirname(cmd[2]), wd)
            if cmd[1] == 'tools/train.py':
                open(osp.join(wd, 'iter_20.pth'), 'w').close()
                # mmengine's log of the training: the record's time is its
                # iterations times the median iteration time (0.5 s)
                log = osp.join(wd, '20261201_000000', 'vis_data')
                os.makedirs(log)
                with open(osp.join(log, 'scalars.json'), 'w') as f:
                    for it, t in ((10, 0.5), (20, 90.0), (5, 0.25)):
                        f.write(json.dumps(dict(iter=it, time=t, loss=1)))
                        f.write('\n')
            else:  # tests in a work dir of their own
                self.assertNotEqual(wd, work_dir)
                with open(cmd[cmd.index('--metrics-out') + 1], 'w') as f:
                    json.dump(dict(metrics=metrics), f)

        with tempfile.TemporaryDirectory() as tmp:
            wd = work_dir = osp.join(tmp, 'seesaw', 'seed0')
            args = mock.Mock(
                iters=20,
                curve_every=10,
                seeds=[0],
                curve_models=list(study.CURVE_MODELS))
            cfg = study.study_config('seesaw', self.data, 20, 0, 10)
            inputs = study.run_inputs('seesaw', 'd', 'c', 20)
            with mock.patch.object(study_run, 'run', side_effect=fake_run):
                first = study_run.train_and_test('seesaw', 0, cfg, self.data,
                                                 args, wd, inputs)
                self.assertEqual(calls, ['tools/train.py', 'tools/test.py'])
                again = study_run.train_and_test('seesaw', 0, cfg, self.data,
                                                 args, wd, inputs)
                self.assertEqual(len(calls), 2)  # nothing made twice
                self.assertEqual(again['val'], first['val'])
                self.assertEqual(again['train_s'], first['train_s'])
                self.assertEqual((first['train_s'], first['iter_s']),
                                 (20 * 0.5, 0.5))
                other = study.run_inputs('seesaw', 'd', 'c2', 20)
                study_run.train_and_test('seesaw', 0, cfg, self.data, args, wd,
                                         other)
                self.assertEqual(calls[2:],
                                 ['tools/train.py', 'tools/test.py'])

    def test_missing_split_names_the_converter(self):
        data = study.StudyData(self.root, self.data.train,
                               osp.join(self.root, 'nope.json'), self.data.val)
        with self.assertRaisesRegex(FileNotFoundError, 'lvis_heldout_split'):
            data.check()

    def test_preset_picks_the_generated_set(self):
        from mmdet_causal.testing import PRESETS, class_names
        with tempfile.TemporaryDirectory() as tmp, \
                mock.patch.object(study_run, 'ROOT', tmp), \
                mock.patch.object(sys, 'argv', [
                    'run.py', '--quick', '--preset', 'longtail2']):
            data = study_run.study_data(study_run.parse_args())
            self.assertEqual(data.data_root,
                             osp.join(tmp, 'data', 'long_tail2_quick'))
            names = [c['name'] for c in data.categories()]
        self.assertEqual(names, class_names(PRESETS['longtail2']))
        self.assertNotEqual(names, class_names(PRESETS['longtail']))

    def test_interrupted_study_resumes_where_it_stopped(self):
        """Runs finished before an interruption are not made again; the
        results are written from the cache plus the new runs."""
        names = [c['name'] for c in self.data.categories()]
        made, session = [], dict(ends_after=3)

        def fake_train_and_test(model, seed, cfg, data, args, work_dir,
                                inputs):
            if len(made) == session['ends_after']:
                raise KeyboardInterrupt  # the session ends mid-study
            made.append((model, seed))
            rec = fake_record(model, seed, names, iters=args.iters)
            rec.pop('inputs')
            return rec

        with tempfile.TemporaryDirectory() as out:
            argv = [
                'run.py', '--models', 'stock', 'causal', 'seesaw', '--seeds',
                '0', '1', '--iters', '20', '--checkpoint-every', '5',
                '--curve-every', '5', '--data-root', self.root, '--work-dir',
                osp.join(out, 'work'), '--out', out
            ]
            with mock.patch.object(study_run, 'train_and_test',
                                   side_effect=fake_train_and_test), \
                    mock.patch.object(sys, 'argv', argv):
                with self.assertRaises(KeyboardInterrupt):
                    study_run.main()
                self.assertEqual(made, [('stock', 0), ('causal', 0),
                                        ('seesaw', 0)])
                self.assertEqual(
                    sorted(os.listdir(osp.join(out, 'runs'))), [
                        'causal_seed0.json', 'seesaw_seed0.json',
                        'stock_seed0.json'
                    ])
                session['ends_after'] = None
                study_run.main()
            self.assertEqual(made[3:], [('stock', 1), ('causal', 1),
                                        ('seesaw', 1)])
            with open(osp.join(out, 'results_study.json')) as f:
                results = json.load(f)
            self.assertEqual(results['runs_made_by_this_invocation'],
                             ['stock_seed1', 'causal_seed1', 'seesaw_seed1'])
            self.assertEqual(len(results['runs']), 6)
            self.assertEqual(
                list(results['table']),
                [r[0] for r in study.rows_for(['stock', 'causal', 'seesaw'])])
            for png in ('study_table.png', 'study_curve.png',
                        'study_per_class.png'):
                self.assertGreater(osp.getsize(osp.join(out, png)), 1000)
            # a cached curve at a finer spacing serves a coarser one (its
            # points are a superset) without training again
            with open(osp.join(out, 'runs', 'stock_seed0.json')) as f:
                cached = json.load(f)['curve']
            coarse = list(argv)
            coarse[coarse.index('--curve-every') + 1] = '10'
            with mock.patch.object(study_run, 'train_and_test',
                                   side_effect=fake_train_and_test), \
                    mock.patch.object(sys, 'argv', coarse), \
                    mock.patch.object(study_run, 'write_results') as write:
                study_run.main()
            records = write.call_args[0][2]
            self.assertEqual(records[('stock', 0)]['curve'],
                             [p for p in cached if p['iter'] == 10])
            self.assertEqual(records[('stock', 1)]['curve'], [])
            # ... but points it does not hold cannot be: the error names the
            # record and the fix
            every = list(argv) + ['--curve-models', 'all']
            with mock.patch.object(study_run, 'train_and_test',
                                   side_effect=fake_train_and_test), \
                    mock.patch.object(sys, 'argv', every), \
                    self.assertRaisesRegex(
                        SystemExit, r'seesaw_seed0.json holds no curve.*'
                        'delete the record'):
                study_run.main()
            args = mock.Mock(
                iters=20, curve_every=5, seeds=[0], curve_models=['stock'])
            sparse = dict(fake_record('stock', 0, names), curve=[cached[1]])
            with self.assertRaisesRegex(SystemExit,
                                        r'at \[10\].*--curve-every 10'):
                study_run.cached_curve(sparse, 0, args, 'stock_seed0.json')
            self.assertEqual(len(made), 6)


class TestConvergence(unittest.TestCase):
    """The convergence figure and table read two schedules' run caches."""

    def setUp(self):
        import convergence
        self.convergence = convergence
        self.names = ['a', 'b', 'c']
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.dirs = []
        self.records = {}
        for iters in (20, 40):
            out = osp.join(self.tmp.name, f'study{iters}')
            cache = study.RunCache(osp.join(out, 'runs'))
            for model in ('stock', 'causal', 'seesaw'):
                record = fake_record(model, 0, self.names, iters=iters)
                if model in study.CURVE_MODELS:
                    record['curve'] = [
                        dict(iter=it * iters // 20, metrics=p['metrics'])
                        for it, p in zip((5, 10, 15), record['curve'])
                    ]
                self.records[(iters,
                              model)] = cache.put(model, 0, record['inputs'],
                                                  record)
            self.dirs.append(out)

    def test_table_holds_each_schedules_points_and_final_gap(self):
        schedules = self.convergence.load_curves(self.dirs)
        self.assertEqual(list(schedules), [20, 40])
        table = self.convergence.markdown(schedules)
        for (iters, model), record in self.records.items():
            if model not in study.CURVE_MODELS:
                self.assertNotIn(f'| {model} |', table)
                continue
            final = record['val'][study.CURVE_STRENGTH[model]]
            its = [p['iter'] for p in record['curve']] + [iters]
            values = [p['metrics']['lvis/bbox_AP']
                      for p in record['curve']] + [final['lvis/bbox_AP']]
            cells = ', '.join(f'{i}: {100 * v:.1f}'
                              for i, v in zip(its, values))
            self.assertIn(f'| {iters} | {model} | bbox_AP | {cells} |', table)
        for iters in (20, 40):
            gap = 100 * (
                self.records[
                    (iters, 'causal')]['val']['alpha=0']['lvis/segm_AP'] -
                self.records[
                    (iters, 'stock')]['val']['gamma=0']['lvis/segm_AP'])
            # the gap table: a schedule, then signed differences
            line = next(ln for ln in table.splitlines()
                        if ln.startswith((f'| {iters} | +', f'| {iters} | -')))
            self.assertEqual(line.split(' | ')[-1].rstrip(' |'), f'{gap:+.1f}')

    def test_writes_the_figure(self):
        png = osp.join(self.tmp.name, 'conv.png')
        md = osp.join(self.tmp.name, 'conv.md')
        self.convergence.main([*self.dirs, '--out', png, '--md', md])
        with open(png, 'rb') as f:
            self.assertEqual(f.read(8), b'\x89PNG\r\n\x1a\n')
        with open(md) as f:
            self.assertIn('| 40 | causal | bbox_APr |', f.read())

    def test_errors_name_the_fix(self):
        with self.assertRaisesRegex(FileNotFoundError, 'run.py first'):
            self.convergence.load_curves([osp.join(self.tmp.name, 'none')])
        with self.assertRaisesRegex(ValueError, 'in two of'):
            self.convergence.load_curves([self.dirs[0], self.dirs[0]])


class TestCommittedRecordsAreServed(unittest.TestCase):
    """Every committed run record is a hit for today's runner: the config
    it builds for the record's run has the record's fingerprint (its own or
    an older spelling's), on the data the generator still makes. A change
    that moved a config would otherwise retrain those runs (hours) at the
    next campaign step, where a change that keeps training bit-equal must
    keep the records valid."""

    #: where the records were made: the generator's sets under the study
    #: machine's checkout (a config names its data's absolute path)
    MADE_AT = '/work/main/data'
    #: study folder: the generator's preset and --checkpoint-every
    STUDIES = {
        '.': ('longtail', 200),
        'probe_3200': ('longtail', 200),
        'probe_6400': ('longtail', 400),
        'study_6400': ('longtail', 400),
        'study_longtail2': ('longtail2', 200),
    }

    def made_at(self, preset: str, copy_root: str) -> tuple:
        """The preset's set named by the paths it was made at, and a copy
        of it generated under ``copy_root`` (once)."""
        from mmdet_causal.testing import PRESETS
        name = study_run.DATA_PRESETS[preset]
        if not osp.isdir(osp.join(copy_root, name)):
            generate_tiny_lvis(
                osp.join(copy_root, name), PRESETS[preset], write_images=False)
        return tuple(
            study.StudyData(
                osp.join(root, name),
                *(osp.join(root, name, 'annotations', f'lvis_v1_{split}.json')
                  for split in ('train', 'heldout', 'val')))
            for root in (self.MADE_AT, copy_root))

    def test_records_are_hits(self):
        with tempfile.TemporaryDirectory() as tmp:
            for folder, (preset, every) in self.STUDIES.items():
                data, copy = self.made_at(preset, tmp)
                paths = glob.glob(
                    osp.join(STUDY_DIR, folder, 'runs', '*.json'))
                self.assertGreater(len(paths), 1, folder)
                # the configs read the set's classes and size from the copy
                cats, n_train = copy.categories(), copy.num_train_images()
                with mock.patch.object(study.StudyData, 'categories',
                                       lambda _: cats), \
                        mock.patch.object(study.StudyData, 'num_train_images',
                                          lambda _: n_train):
                    for path in sorted(paths):
                        self.check_record(path, data, copy.fingerprint(),
                                          every)

    def check_record(self, path, data, data_fingerprint, every):
        with open(path) as f:
            record = json.load(f)
        model, seed, made = record['model'], record['seed'], record['inputs']
        cfg = study.study_config(model, data, made['iters'], seed, every)
        fingerprints = study.config_fingerprints(cfg)
        inputs = study.run_inputs(model, data_fingerprint, fingerprints[0],
                                  made['iters'])
        got = study.RunCache(osp.dirname(path)).get(model, seed, inputs,
                                                    fingerprints[1:])
        self.assertIsNotNone(got, (path, made, inputs, fingerprints))


class CommittedPage:
    """The study page (docs/long_tail_study.md) and the README, read once
    per test class."""

    @classmethod
    def setUpClass(cls):
        root = osp.join(STUDY_DIR, '..', '..')
        with open(osp.join(root, 'docs', 'long_tail_study.md')) as f:
            cls.page = f.read()
        with open(osp.join(root, 'README.md')) as f:
            cls.readme = f.read()


class CommittedStudyChecks(CommittedPage):
    """A committed study (its output folder ``STUDY``): its tables are
    rendered again from the committed JSON and run records, and the study
    page (docs/long_tail_study.md) shows them verbatim (once all its runs
    are in)."""

    STUDY = STUDY_DIR

    def read(self, *path):
        with open(osp.join(self.STUDY, *path)) as f:
            return f.read()

    def test_tables_are_the_json_rendered(self):
        skip_while_running(self, self.STUDY)
        summary = json.loads(self.read('results_study.json'))
        self.assertEqual(
            self.read('results_study.md'),
            study.markdown_report(summary['table'], summary['comparison']))
        # the comparison is the table's, not a stale one (to the last bits
        # of a float: numpy 1 and 2 sum in another order)
        assert_nested_close(
            json.loads(json.dumps(study.compare(summary['table']))),
            summary['comparison'])
        self.assertEqual(summary['seeds'], [0, 1, 2])

    def test_json_is_the_run_records_aggregated(self):
        skip_while_running(self, self.STUDY)
        summary = json.loads(self.read('results_study.json'))
        seeds = summary['seeds']
        cache = study.RunCache(osp.join(self.STUDY, 'runs'))
        records = {}
        for m in summary['models']:
            for s in seeds:
                with open(cache.path(m, s)) as f:
                    records[(m, s)] = json.load(f)
        table = study.aggregate(records, study.rows_for(summary['models']),
                                seeds)
        self.assertEqual(list(table), list(summary['table']))
        for row, entry in table.items():
            self.assertEqual(entry['picked'], summary['table'][row]['picked'])
            for col, cell in entry['cells'].items():
                committed = summary['table'][row]['cells'][col]
                np.testing.assert_allclose(
                    [cell['mean'], cell['std'], *cell['seeds']],
                    [committed['mean'], committed['std'], *committed['seeds']])
        for (m, s), record in records.items():
            run = summary['runs'][study.run_key(m, s)]
            self.assertEqual((run['train_s'], run['test_s']),
                             (record['train_s'], record['test_s']))

    def test_study_page_shows_the_tables(self):
        skip_while_running(self, self.STUDY)
        self.assertIn(self.read('results_study.md').strip(), self.page)


class TestCommittedStudy(CommittedStudyChecks, unittest.TestCase):
    """The 1600-iteration study on the first set, its convergence probes,
    and the README's headline rows (the JSON's of the 1600-iteration study
    while the 6400-iteration one runs, of the 6400-iteration one after)."""

    #: the probes of longer schedules
    PROBES = ('probe_3200', 'probe_6400')
    #: the study whose rows the README's headline table shows
    HEADLINE = STUDY_6400 if SCHEDULE_DONE else STUDY_DIR

    def test_study_page_shows_the_convergence_table(self):
        self.assertIn(self.read('study_convergence.md').strip(), self.page)

    def test_readme_headline_rows_are_the_jsons(self):
        with open(osp.join(self.HEADLINE, 'results_study.json')) as f:
            table = json.load(f)['table']
        # the rows of the table under this header (the README's rank table
        # names the same rows)
        header = '| row | bbox AP | bbox APr | segm AP |\n|---|---|---|---|\n'
        self.assertEqual(self.readme.count(header), 1)
        block = self.readme.split(header)[1].split('\n\n')[0]
        lines = block.splitlines()
        self.assertGreaterEqual(len(lines), 6)
        for line in lines:
            row, *cells = [c.strip() for c in line.strip('|').split('|')]
            self.assertEqual(len(cells), 3, line)
            for col, text in zip(('bbox_AP', 'bbox_APr', 'segm_AP'), cells):
                cell = table[row]['cells'][col]
                self.assertEqual(text,
                                 f'{cell["mean"]:.1f} ± {cell["std"]:.1f}',
                                 (row, col))

    #: the committed tables the README's results may quote
    QUOTED_FROM = ('results_study.md', 'study_conclusions_sets.md',
                   'study_longtail2/results_study.md', 'study_schedule.md')
    if SCHEDULE_DONE:
        QUOTED_FROM += ('study_6400/results_study.md', 'study_conclusions.md')

    def test_readme_quotes_only_the_committed_tables(self):
        """Every number of the README's results (a mean, a mean ± spread,
        a difference) is one the committed tables print: a mean ± spread
        whole, a bare number as the mean of one."""
        one = r'[+-]?(?<![\d.])\d+\.\d(?![\d.])'
        number = f'{one}(?: ± {one})?'
        section = self.readme.split('## Results at a glance')[1].split(
            '\n## ')[0]
        printed = set()
        for name in self.QUOTED_FROM:
            cells = re.findall(number, self.read(name))
            printed |= set(cells) | {c.split(' ± ')[0] for c in cells}
        quoted = set(re.findall(number, section))
        self.assertGreater(len(quoted), 20)
        self.assertEqual(quoted - printed, set())

    def test_campaign_count_is_the_records(self):
        """While the campaign runs, the README and the study page say how
        many of the 6400-iteration study's 18 runs are in: the committed
        records; once all are, neither says a count."""
        quoted = [
            int(n) for text in (self.readme, self.page)
            for n in re.findall(r'(\d+)\s+of\s+its\s+18\s+runs', text)
        ]
        if SCHEDULE_DONE:
            self.assertEqual(quoted, [])
            return
        self.assertEqual(len(quoted), 3)  # README once, the page twice
        self.assertEqual(quoted, [runs_in(STUDY_6400)] * len(quoted))

    def test_convergence_table_is_the_run_records_rendered(self):
        import convergence
        dirs = [STUDY_DIR] + [osp.join(STUDY_DIR, p) for p in self.PROBES]
        self.assertEqual(
            self.read('study_convergence.md'),
            convergence.markdown(convergence.load_curves(dirs)) + '\n')


class CommittedReadingChecks(CommittedPage):
    """Committed studies read side by side (``READ``: their folders and
    labels, ``schedule.summarise``'s arguments): where ``RANKS`` names it,
    the ranks of all (next to the studies' folders), and where
    ``CONCLUSIONS`` names it, the study's conclusions claim by claim
    (``COLUMNS`` of each study), rendered again from the run records, on
    the study page; with ``IN_README``, their bbox AP in the README too.
    The conclusions wait for the last run of every study read."""

    READ: tuple
    RANKS = None
    CONCLUSIONS = None
    COLUMNS = None
    IN_README = False

    def read_beside(self, name):
        with open(osp.join(STUDY_DIR, name)) as f:
            return f.read()

    def test_ranks_are_the_records_rendered(self):
        if self.RANKS is None:
            self.skipTest('no ranks committed for these studies')
        import schedule
        text = schedule.markdown(schedule.summarise(*self.READ))
        self.assertEqual(self.read_beside(self.RANKS), text + '\n')
        self.assertIn(text, self.page)

    def test_conclusions_are_the_records_judged(self):
        if self.CONCLUSIONS is None:
            self.skipTest('no conclusions committed for these studies')
        skip_while_running(self, *self.READ[0])
        import conclusions
        summary = conclusions.summarise(*self.READ)
        text = conclusions.markdown(summary, self.COLUMNS or conclusions.SHOWN)
        self.assertEqual(self.read_beside(self.CONCLUSIONS), text)
        self.assertIn(text.strip(), self.page)
        if self.IN_README:
            self.assertIn(
                conclusions.markdown(summary, ('bbox_AP', )).strip(),
                self.readme)


class TestCommittedSecondSet(CommittedStudyChecks, CommittedReadingChecks,
                             unittest.TestCase):
    """The 1600-iteration study on the second set (``--preset longtail2``)
    and its reading beside the first: both sets' ranks and the study's
    conclusions claim by claim (in the README until the reading of all
    three studies replaces them)."""

    STUDY = STUDY_LT2
    READ = ([STUDY_DIR, STUDY], ['longtail', 'longtail2'])
    RANKS = 'study_sets.md'
    CONCLUSIONS = 'study_conclusions_sets.md'
    IN_README = not SCHEDULE_DONE


class TestCommittedSchedule(CommittedStudyChecks, CommittedReadingChecks,
                            unittest.TestCase):
    """The 1600- and 6400-iteration studies side by side: both budgets'
    ranks, every model's seed-0 curve and its slopes, rendered from the
    records that are in while the 6400-iteration study runs (its seed-0
    curves are complete); its own tables and the conclusions at both
    budgets once its last run is in."""

    STUDY = STUDY_6400
    READ = ([STUDY_DIR, STUDY], None)
    RANKS = 'study_schedule.md'
    CONCLUSIONS = 'study_conclusions_schedule.md'

    def test_slopes_are_the_records_measured(self):
        import schedule
        summary = schedule.summarise(*self.READ)
        committed = json.loads(self.read_beside('study_schedule.json'))
        got = {b: s['slopes'] for b, s in committed.items()}
        slopes = {str(b): s['slopes'] for b, s in summary.items()}
        # as the JSON holds them: string keys, None for a missing slope
        assert_nested_close(got,
                            json.loads(json.dumps(schedule.finite(slopes))))


class TestCommittedReading(CommittedReadingChecks, unittest.TestCase):
    """The README's reading: every conclusion of the study on both sets
    and at both budgets (bbox AP), in the README and on the study page,
    once the 6400-iteration study's last run is in."""

    READ = ([STUDY_DIR, STUDY_6400, STUDY_LT2],
            ['longtail 1600 it.', 'longtail 6400 it.', 'longtail2 1600 it.'])
    CONCLUSIONS = 'study_conclusions.md'
    COLUMNS = ('bbox_AP', )
    IN_README = True
