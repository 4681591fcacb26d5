# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The study's conclusions claim by claim (benchmarks/long_tail/
conclusions.py) on hand-made run records whose differences, spreads and
verdicts are worked out by hand below."""
import json
import os
import os.path as osp
import sys
import tempfile
import unittest

STUDY_DIR = osp.join(
    osp.dirname(__file__), '..', '..', 'benchmarks', 'long_tail')
sys.path.insert(0, osp.abspath(STUDY_DIR))
import conclusions  # noqa: E402
import study  # noqa: E402


def metrics(ap: float, apr: float = None) -> dict:
    """Every table column at ``ap`` (a fraction, as LVISMetric writes),
    the APr columns at ``apr`` if given."""
    out = {}
    for iou in study.IOU_TYPES:
        for c in study.COLUMNS:
            out[study.metric_key(iou, c)] = (
                apr if c == 'APr' and apr is not None else ap)
    return out


def write_record(root, model, seed, val, selected=None, iters=100):
    """A run record with val metrics ``{strength: ap or metrics}``."""
    os.makedirs(osp.join(root, 'runs'), exist_ok=True)
    record = dict(
        model=model,
        seed=seed,
        inputs=dict(iters=iters),
        selected=selected,
        val={
            s: v if isinstance(v, dict) else metrics(v)
            for s, v in val.items()
        })
    with open(osp.join(root, 'runs', f'{model}_seed{seed}.json'), 'w') as f:
        json.dump(record, f)


class TestConclusions(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.a = osp.join(self.tmp.name, 'a')
        self.b = osp.join(self.tmp.name, 'b')
        # set a, 3 seeds:
        #   stock 20, 21, 22 (std 1); NorCal's pick (gamma 0.5) one point
        #   above it on every seed;
        #   causal at alpha 0 40, 42, 44 (std 2); the held-out pick (alpha
        #   1.5) one point above it on every seed; APr of alpha 0 -1 (no
        #   rare class in val);
        #   Seesaw 43, 45, 47 (std 2)
        for seed in range(3):
            stock, causal = .20 + seed / 100, .40 + 2 * seed / 100
            write_record(self.a, 'stock', seed, {
                'gamma=0': stock,
                'gamma=0.5': stock + .01
            }, 'gamma=0.5')
            write_record(self.a, 'causal', seed, {
                'alpha=0': metrics(causal, apr=-1),
                'alpha=1.5': causal + .01
            }, 'alpha=1.5')
            write_record(self.a, 'seesaw', seed, {'model': causal + .03})
        # set b: stock 3 seeds at 50, 51, 52, causal 30 (seed 0 only)
        for seed in range(3):
            write_record(self.b, 'stock', seed, {
                'gamma=0': .50 + seed / 100,
                'gamma=0.5': .50 + seed / 100
            }, 'gamma=0.5')
        write_record(self.b, 'causal', 0, {
            'alpha=0': .30,
            'alpha=1.5': .30
        }, 'alpha=1.5')

    def tearDown(self):
        self.tmp.cleanup()

    def test_differences_spreads_and_verdicts_by_hand(self):
        summary = conclusions.summarise([self.a, self.b], ['a', 'b'])
        a, b = summary['a'], summary['b']

        def cell(claims, text, column='bbox_AP'):
            c = claims[text][column]
            return round(c['mean'], 9), round(c['spread'], 9), c['verdict']

        # TDE 41, 43, 45 against stock 20, 21, 22: +22, the larger std 2
        self.assertEqual(cell(a, 'TDE beats stock'), (22.0, 2.0, 1))
        # paired by seed: +1 on every seed, spread 0, although the two
        # rows' own spreads (2) are larger than the gain
        self.assertEqual(
            cell(a, 'the held-out alpha adds to the causal model'),
            (1.0, 0.0, 1))
        self.assertEqual(cell(a, 'NorCal adds to stock'), (1.0, 0.0, 1))
        # Seesaw 45 against causal at alpha 0, 42: +3 inside 2 x 2
        self.assertEqual(
            cell(a, 'Seesaw beats the causal model at alpha 0'), (3.0, 2.0, 0))
        self.assertEqual(cell(a, 'Seesaw beats TDE'), (2.0, 2.0, 0))
        # the -1 of alpha 0's APr is no number
        c = a['the causal model at alpha 0 beats stock']['bbox_APr']
        self.assertNotEqual(c['mean'], c['mean'])
        # set b: causal has seed 0 only, 30 against stock's 50: no spread,
        # nothing told apart; NorCal changes nothing there
        self.assertEqual(b['TDE beats stock']['bbox_AP']['seeds'], 1)
        self.assertEqual(b['TDE beats stock']['bbox_AP']['verdict'], 0)
        self.assertEqual(cell(b, 'NorCal adds to stock'), (0.0, 0.0, 0))
        # claims on models a study lacks are left out
        self.assertNotIn('Seesaw beats TDE', b)
        self.assertNotIn('RFS adds to stock', a)

    def test_a_reversed_claim_is_named(self):
        # set b with 3 causal seeds at 30, 31, 32: stock (51 +- 1) is ahead
        for seed in range(3):
            v = .30 + seed / 100
            write_record(self.b, 'causal', seed, {
                'alpha=0': v,
                'alpha=1.5': v
            }, 'alpha=1.5')
        summary = conclusions.summarise([self.a, self.b], ['a', 'b'])
        self.assertEqual(summary['b']['TDE beats stock']['bbox_AP']['verdict'],
                         -1)
        self.assertEqual(
            conclusions.holds_on(summary, 'TDE beats stock'),
            'a; reversed on b')
        self.assertEqual(
            conclusions.holds_on(summary, 'Seesaw beats TDE'), 'none')

    def test_markdown_shows_each_claim_on_each_study(self):
        text = conclusions.markdown(
            conclusions.summarise([self.a, self.b], ['a', 'b']))
        lines = {
            line.split(' | ')[0][2:]: line
            for line in text.splitlines() if line.startswith('| ')
        }
        self.assertEqual(
            lines['TDE beats stock'],
            '| TDE beats stock | **+22.0 ± 2.0** | **+22.0 ± 2.0** | '
            '**+22.0 ± 2.0** | -20.0 (1 seed) | -20.0 (1 seed) | '
            '-20.0 (1 seed) | a |')
        self.assertEqual(
            lines['the causal model at alpha 0 beats stock'],
            '| the causal model at alpha 0 beats stock | **+21.0 ± 2.0** | '
            '- | **+21.0 ± 2.0** | -20.0 (1 seed) | -20.0 (1 seed) | '
            '-20.0 (1 seed) | a |')
        self.assertEqual(
            lines['Seesaw beats TDE'],
            '| Seesaw beats TDE | +2.0 ± 2.0 | +2.0 ± 2.0 | +2.0 ± 2.0 | '
            'not run yet | not run yet | not run yet | none |')
        # a claim no study can judge has no line
        self.assertNotIn('RFS adds to stock', lines)
        self.assertIn('claim', lines)
        # the README's form: bbox AP only
        brief = conclusions.markdown(
            conclusions.summarise([self.a, self.b], ['a', 'b']),
            ('bbox_AP', )).splitlines()
        self.assertEqual(brief[:3], [
            '| claim | a: bbox AP | b: bbox AP | holds on (bbox AP) |',
            '|---|---|---|---|',
            '| TDE beats stock | **+22.0 ± 2.0** | -20.0 (1 seed) | a |'
        ])

    def test_operands_without_a_common_seed_or_with_a_nan_seed(self):
        # causal of set b trained seed 7 only; stock has seeds 0, 1, 2
        os.remove(osp.join(self.b, 'runs', 'causal_seed0.json'))
        write_record(self.b, 'causal', 7, {
            'alpha=0': metrics(.3, apr=-1),
            'alpha=1.5': .3
        }, 'alpha=1.5')
        # and in set a, alpha 0's APr defined on seeds 1 and 2 only
        write_record(self.a, 'causal', 1, {
            'alpha=0': .42,
            'alpha=1.5': .43
        }, 'alpha=1.5')
        summary = conclusions.summarise([self.a, self.b], ['a', 'b'])
        cell = summary['b']['TDE beats stock']['bbox_AP']
        self.assertEqual((cell['seeds'], cell['verdict']), (0, 0))
        self.assertEqual(conclusions.fmt(cell, 3), 'no seed in common')
        cell = summary['a']['the held-out alpha adds to the causal model'][
            'bbox_APr']
        self.assertEqual((cell['seeds'], cell['verdict']), (3, 0))
        self.assertEqual(conclusions.fmt(cell, 3), '-')
        # unpaired, a NaN on either side leaves the spread unknown
        for a, b in ([[1., float('nan')], [0., 0.]], [[0., 0.],
                                                      [1., float('nan')]]):
            _, spread = study.difference(a, b, paired=False)
            self.assertNotEqual(spread, spread)

    def test_every_claim_reads_the_committed_study(self):
        """Each claim's operands are in the first set's records (all six
        models, 3 seeds, every strength named)."""
        summary = conclusions.summarise([STUDY_DIR])['1600 it.']
        self.assertEqual(list(summary), [c.text for c in conclusions.CLAIMS])
        for text, judged in summary.items():
            cell = judged['bbox_AP']
            self.assertEqual(cell['seeds'], 3, text)
            self.assertEqual(cell['mean'], cell['mean'], text)
            self.assertEqual(cell['spread'], cell['spread'], text)

    def test_studies_are_named_by_budget_or_label(self):
        write_record(self.b, 'stock', 0, {'gamma=0': .5}, 'gamma=0', 400)
        with self.assertRaisesRegex(ValueError, 'mixed budgets'):
            conclusions.summarise([self.b])
        os.remove(osp.join(self.b, 'runs', 'stock_seed0.json'))
        with self.assertRaisesRegex(ValueError, '--labels'):
            conclusions.summarise([self.a, self.a])
        with self.assertRaisesRegex(ValueError, 'one distinct label'):
            conclusions.summarise([self.a, self.b], ['a', 'a'])
        self.assertEqual(list(conclusions.summarise([self.a])), ['100 it.'])
        # by budget, shortest first, whatever the order given
        for seed in range(2):
            write_record(self.b, 'stock', seed, {'gamma=0': .5}, 'gamma=0', 40)
        os.remove(osp.join(self.b, 'runs', 'causal_seed0.json'))
        os.remove(osp.join(self.b, 'runs', 'stock_seed2.json'))
        self.assertEqual(
            list(conclusions.summarise([self.a, self.b])),
            ['40 it.', '100 it.'])


if __name__ == '__main__':
    unittest.main()
