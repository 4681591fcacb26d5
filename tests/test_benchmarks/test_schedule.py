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


def write_record(root, model, seed, iters, ap, curve=(), strength_ap=None):
    """A run record: val AP ``ap`` at every strength but those of
    ``strength_ap``; the held-out pick is the model's last strength."""
    os.makedirs(osp.join(root, 'runs'), exist_ok=True)
    aps = dict({s: ap for s in STRENGTHS[model]}, **(strength_ap or {}))
    record = dict(
        model=model,
        seed=seed,
        inputs=dict(iters=iters),
        val={
            s: metrics(v)
            for s, v in aps.items()
        },
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
        # and TDE at alpha 1.5 (the held-out pick) one point above alpha 0
        # on every seed
        for seed, (s, c) in enumerate([(.20, .40), (.21, .41), (.22, .42)]):
            write_record(self.short, 'stock', seed, 100, s)
            write_record(
                self.short,
                'causal',
                seed,
                100,
                c,
                strength_ap={'alpha=1.5': c + .01})
        # long budget, one seed of stock only, with its curve
        write_record(
            self.long,
            'stock',
            0,
            400,
            .35,
            curve=[(100, .1), (200, .2), (300, .3)])
        # and causal seed 0 without a curve
        write_record(self.long, 'causal', 0, 400, .5)

    def tearDown(self):
        self.tmp.cleanup()

    def test_ranks_count_the_rows_ahead_beyond_twice_the_spread(self):
        summary = schedule.summarise([self.long, self.short])
        self.assertEqual(list(summary), [100, 400])
        # causal is 20 points ahead of stock (spread 1); within causal, alpha
        # 1.5 is ahead of alpha 0 only paired by seed (+1 on every seed,
        # where the spreads of the two rows are 1 each)
        self.assertEqual(
            summary[100]['ranks'], {
                'stock (linear classifier)': 4,
                'stock + NorCal, held-out gamma': 4,
                'de-confound (causal, alpha 0)': 3,
                'TDE, published alpha 1.5': 1,
                'TDE, held-out alpha': 1,
            })
        cell = summary[100]['table']['TDE, held-out alpha']['cells']['bbox_AP']
        self.assertAlmostEqual(cell['mean'], 42.0)
        self.assertAlmostEqual(cell['std'], 1.0)
        # one seed: no spread, nothing can be told apart
        self.assertEqual(set(summary[400]['ranks'].values()), {1})
        self.assertEqual(
            summary[400]['table']['stock (linear classifier)']['seeds'], [0])

    def test_rows_with_other_seeds_compare_on_the_shared_ones(self):
        # causal has seed 0 only: one shared seed, in either order nothing
        # is ahead (the rows are not compared on different seeds)
        _, records = schedule.load_records(self.short)
        records = {k: v for k, v in records.items() if k != ('causal', 1)}
        records = {k: v for k, v in records.items() if k != ('causal', 2)}
        table = schedule.table_at(records)
        for order in (list(table), list(reversed(list(table)))):
            ranks = schedule.ranks({row: table[row] for row in order})
            self.assertEqual(set(ranks.values()), {1}, order)

    def test_slopes_of_the_last_two_quarters(self):
        summary = schedule.summarise([self.short, self.long])
        slopes = summary[400]['slopes']['stock']
        # last quarter: 300 (30 AP) to 400 (35 AP); third: 200 to 300
        self.assertAlmostEqual(slopes['bbox_AP, quarter 4'], 50.0)
        self.assertAlmostEqual(slopes['bbox_AP, quarter 3'], 100.0)
        self.assertEqual(list(summary[100]['curves']), [])
        self.assertNotIn('causal', summary[400]['curves'])
        # no checkpoint at the quarter's end (or before its start)
        points = [dict(iter=350, metrics=metrics(.1))]
        self.assertIsNone(schedule.quarter_slope(points, 400, 4))
        self.assertIsNone(schedule.quarter_slope(points, 400, 3))

    def test_markdown_says_which_rows_are_not_run_yet(self):
        text = schedule.markdown(schedule.summarise([self.short, self.long]))
        self.assertIn('| stock + RFS | not run yet |  | not run yet |  |',
                      text)
        self.assertIn(
            '| stock (linear classifier) | 21.0 ± 1.0 (3) | 4 | '
            '35.0 (1) | 1 |', text)
        self.assertIn('| 400 it. | stock | 35.0 | +100.0 / +50.0 |', text)

    def test_main_writes_table_json_and_figure(self):
        out = osp.join(self.tmp.name, 'out')
        os.makedirs(out)
        paths = [osp.join(out, n) for n in ('s.md', 's.json', 's.png')]
        schedule.main([
            self.short, self.long, '--md', paths[0], '--json', paths[1],
            '--png', paths[2]
        ])
        with open(paths[0]) as f:
            self.assertIn('not run yet', f.read())
        with open(paths[1]) as f:
            # strict JSON: the one-seed rows' unknown spread is null
            loaded = json.load(
                f, parse_constant=lambda c: self.fail(f'{c} in the JSON'))
        self.assertIsNone(loaded['400']['table']['stock (linear classifier)']
                          ['cells']['bbox_AP']['std'])
        self.assertGreater(os.path.getsize(paths[2]), 1000)

    def test_two_sets_at_one_budget_by_their_labels(self):
        # a second set at the short budget: stock ahead of causal there
        other = osp.join(self.tmp.name, 'other')
        for seed, (s, c) in enumerate([(.50, .30), (.51, .31), (.52, .32)]):
            write_record(other, 'stock', seed, 100, s)
            write_record(other, 'causal', seed, 100, c)
        with self.assertRaisesRegex(ValueError, '--labels'):
            schedule.summarise([self.short, other])
        summary = schedule.summarise([self.short, other], ['set A', 'set B'])
        self.assertEqual(list(summary), ['set A', 'set B'])
        self.assertEqual(summary['set B']['budget'], 100)
        self.assertEqual(
            summary['set A']['ranks']['stock (linear classifier)'], 4)
        self.assertEqual(
            summary['set B']['ranks']['stock (linear classifier)'], 1)
        # behind stock and stock + NorCal (the stock model, gamma 0 here)
        self.assertEqual(
            summary['set B']['ranks']['de-confound (causal, alpha 0)'], 3)
        text = schedule.markdown(summary)
        self.assertIn('| set A: bbox_AP (seeds) | rank | set B: bbox_AP', text)
        self.assertIn(
            '| stock (linear classifier) | 21.0 ± 1.0 (3) | 4 | '
            '51.0 ± 1.0 (3) | 1 |', text)
        png = osp.join(self.tmp.name, 'sets.png')
        schedule.main(
            [self.long, other, '--labels', 'long', 'other', '--png', png])
        self.assertGreater(os.path.getsize(png), 1000)
        with self.assertRaisesRegex(ValueError, 'one distinct label'):
            schedule.summarise([self.short, other], ['set A', 'set A'])

    def test_one_budget_per_folder(self):
        write_record(self.short, 'causal', 5, 400, .5)
        with self.assertRaisesRegex(ValueError, 'mixed budgets'):
            schedule.load_records(self.short)
        with self.assertRaisesRegex(ValueError, 'two folders'):
            schedule.summarise([self.long, self.long])


if __name__ == '__main__':
    unittest.main()
