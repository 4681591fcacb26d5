# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The schedule comparison (benchmarks/long_tail/schedule.py) on hand-made
run records whose ranks and slopes are worked out by hand below."""
import json
import os
import os.path as osp
import sys
import tempfile
import unittest

STUDY_DIR = osp.join(
    osp.dirname(__file__), '..', '..', 'benchmarks', 'long_tail')
sys.path.insert(0, osp.abspath(STUDY_DIR))
import schedule  # noqa: E402
import study  # noqa: E402

STRENGTHS = {
    'stock': ('gamma=0', 'gamma=0.5'),
    'causal': ('alpha=0', 'alpha=1.5')
}


def metrics(ap: float) -> dict:
    """Every table column at ``ap`` (a fraction, as LVISMetric writes)."""
    return {
        study.metric_key(iou, c): ap
        for iou in study.IOU_TYPES
        for c in study.COLUMNS
    }


def write_record(root, model, seed, iters, ap, curve=()):
    os.makedirs(osp.join(root, 'runs'), exist_ok=True)
    record = dict(
        model=model,
        seed=seed,
        inputs=dict(iters=iters),
        val={s: metrics(ap)
             for s in STRENGTHS[model]},
        selected=STRENGTHS[model][-1],
        curve=[dict(iter=it, metrics=metrics(v)) for it, v in curve])
    with open(osp.join(root, 'runs', f'{model}_seed{seed}.json'), 'w') as f:
        json.dump(record, f)


class TestSchedule(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.short = osp.join(self.tmp.name, 'short')
        self.long = osp.join(self.tmp.name, 'long')
        # short budget, 3 seeds: stock 21 +- 1, causal 41 +- 1 bbox AP
        for seed, (s, c) in enumerate([(.20, .40), (.21, .41), (.22, .42)]):
            write_record(self.short, 'stock', seed, 100, s)
            write_record(self.short, 'causal', seed, 100, c)
        # long budget, one seed of stock only, with its curve
        write_record(
            self.long,
            'stock',
            0,
            400,
            .35,
            curve=[(100, .1), (200, .2), (300, .3)])

    def tearDown(self):
        self.tmp.cleanup()

    def test_ranks_count_the_rows_ahead_beyond_twice_the_spread(self):
        summary = schedule.summarise([self.long, self.short])
        self.assertEqual(list(summary), [100, 400])
        # causal's three rows are 20 points ahead of stock's two (spread 1)
        self.assertEqual(
            summary[100]['ranks'], {
                'stock (linear classifier)': 4,
                'stock + NorCal, held-out gamma': 4,
                'de-confound (causal, alpha 0)': 1,
                'TDE, published alpha 1.5': 1,
                'TDE, held-out alpha': 1,
            })
        cell = summary[100]['table']['TDE, held-out alpha']['cells']['bbox_AP']
        self.assertAlmostEqual(cell['mean'], 41.0)
        self.assertAlmostEqual(cell['std'], 1.0)
        # one seed: no spread, nothing can be told apart
        self.assertEqual(set(summary[400]['ranks'].values()), {1})
        self.assertEqual(
            summary[400]['table']['stock (linear classifier)']['seeds'], [0])

    def test_slope_of_the_last_quarter(self):
        summary = schedule.summarise([self.short, self.long])
        # from iteration 300 (3/4 of 400) at 30 AP to 400 at 35 AP
        self.assertAlmostEqual(summary[400]['slopes']['stock']['bbox_AP'],
                               50.0)
        self.assertEqual(list(summary[100]['curves']), [])
        self.assertIsNone(
            schedule.last_quarter_slope([dict(iter=350, metrics={})], 400))

    def test_markdown_says_which_rows_are_not_run_yet(self):
        text = schedule.markdown(schedule.summarise([self.short, self.long]))
        self.assertIn(
            '| TDE, held-out alpha | 41.0 ± 1.0 (3) | 1 | '
            'not run yet |  |', text)
        self.assertIn(
            '| stock (linear classifier) | 21.0 ± 1.0 (3) | 4 | '
            '35.0 (1) | 1 |', text)
        self.assertIn('| 400 | stock | 35.0 | +50.00 / 1000 it.', text)

    def test_one_budget_per_folder(self):
        write_record(self.short, 'causal', 5, 400, .5)
        with self.assertRaisesRegex(ValueError, 'mixed budgets'):
            schedule.load_records(self.short)
        with self.assertRaisesRegex(ValueError, 'two folders'):
            schedule.summarise([self.long, self.long])


if __name__ == '__main__':
    unittest.main()
