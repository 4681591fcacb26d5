# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The selection rules' regret, on hand-made records against hand-computed
picks and regrets, and the committed table against the committed records."""
import glob
import inspect
import json
import os.path as osp
import sys
import unittest

ROOT = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..')
STUDY_DIR = osp.join(ROOT, 'benchmarks', 'long_tail')
sys.path.insert(0, STUDY_DIR)
import selection_rules as rules  # noqa: E402

STUDY_6400 = osp.join(STUDY_DIR, 'study_6400')
#: the 6400-iteration study's table comes with its last run (of 18)
SCHEDULE_DONE = len(glob.glob(osp.join(STUDY_6400, 'runs', '*.json'))) >= 18


def metrics(ap, apr=0.0, apc=0.0, apf=0.0, segm=None):
    out = {
        'lvis/bbox_AP': ap,
        'lvis/bbox_APr': apr,
        'lvis/bbox_APc': apc,
        'lvis/bbox_APf': apf
    }
    out['lvis/segm_AP'] = ap if segm is None else segm
    return out


def record(heldout, val, thumb=None):
    return dict(heldout=heldout, val=val, rule_of_thumb_alpha=thumb)


class TestSelectionRules(unittest.TestCase):

    def test_picks_and_regrets_by_hand(self):
        heldout = {
            # held-out AP prefers alpha 0; the group mean prefers alpha 1
            # (a rare group of -1 is left out of its mean)
            'alpha=0': metrics(0.50, apr=-1, apc=0.30, apf=0.70),
            'alpha=1': metrics(0.49, apr=-1, apc=0.40, apf=0.70),
            'alpha=1.5': metrics(0.40, apr=-1, apc=0.10, apf=0.60),
            'alpha=2': metrics(0.30, apr=-1, apc=0.10, apf=0.50),
        }
        val = {
            'alpha=0': metrics(0.40, segm=0.30),
            'alpha=1': metrics(0.45, segm=0.38),
            'alpha=1.5': metrics(0.47, segm=0.35),
            'alpha=2': metrics(0.42, segm=0.31),
        }
        rec = record(heldout, val, thumb=1.9)
        self.assertEqual(
            rules.picks(rec, 'alpha'), {
                'heldout AP': 'alpha=0',
                'heldout group mean': 'alpha=1',
                'fixed': 'alpha=1.5',
                'rule of thumb': 'alpha=2'
            })
        got = rules.regrets(rec, 'alpha')
        # val best: bbox 0.47 (alpha 1.5), segm 0.38 (alpha 1)
        expected = {
            'heldout AP': (7.0, 8.0),
            'heldout group mean': (2.0, 0.0),
            'fixed': (0.0, 3.0),
            'rule of thumb': (5.0, 7.0)
        }
        for rule, (bbox, segm) in expected.items():
            self.assertAlmostEqual(got[rule]['bbox'], bbox, places=9)
            self.assertAlmostEqual(got[rule]['segm'], segm, places=9)

    def test_a_rule_beats_today_only_beyond_twice_the_spread(self):

        def run(today, other):
            # held-out picks alpha 0 for today's rule; the fixed 1.5 is
            # `other` AP points better on val than alpha 0
            heldout = {'alpha=0': metrics(0.5), 'alpha=1.5': metrics(0.4)}
            val = {
                'alpha=0': metrics(0.5 - today),
                'alpha=1.5': metrics(0.5 - today + other)
            }
            return record(heldout, val)

        for gains, beats in (((0.02, 0.021, 0.019), True), ((0.02, -0.01,
                                                             0.05), False)):
            records = {('causal', s): run(0.0, g) for s, g in enumerate(gains)}
            records.update({
                (m, s): run(0.0, 0.0)
                for m in rules.SWEPT if m != 'causal' for s in range(3)
            })
            table = rules.compare(records, [0, 1, 2])
            cell = table['causal']['fixed']['bbox vs today']
            self.assertEqual(cell['beats_today'], beats, gains)
            self.assertAlmostEqual(
                cell['mean'], -100 * sum(gains) / 3, places=9)

    def test_the_verdict_is_a_rule_that_beats_today_on_every_model(self):

        def cells(bbox, segm=None):
            segm = bbox if segm is None else segm
            return {
                'bbox vs today': dict(beats_today=bbox),
                'segm vs today': dict(beats_today=segm)
            }

        def table(stock_fixed, causal_fixed):
            # the rule of thumb beats today's on the one model it has
            return {
                'stock': {
                    rules.TODAY: cells(False),
                    'fixed': stock_fixed
                },
                'causal': {
                    rules.TODAY: cells(False),
                    'fixed': causal_fixed,
                    'rule of thumb': cells(True)
                },
            }

        self.assertEqual(
            rules.verdict(table(cells(True), cells(True))), 'fixed')
        not_everywhere = [
            (cells(True, False), cells(True)),  # boxes only, on one model
            (cells(True), cells(False)),  # not at all on another
        ]
        for stock, causal in not_everywhere:
            self.assertEqual(rules.verdict(table(stock, causal)), rules.TODAY)


class TestCommittedSelectionRules(unittest.TestCase):
    """Each committed table (the first set's, the second's and, once all
    its runs are in, the 6400-iteration study's) is its study's run records
    compared, and the study page shows it."""

    STUDIES = (STUDY_DIR, osp.join(STUDY_DIR, 'study_longtail2')) + (
        (STUDY_6400, ) if SCHEDULE_DONE else ())

    def test_tables_are_the_records_compared(self):
        with open(osp.join(ROOT, 'docs', 'long_tail_study.md')) as f:
            page = f.read()
        for study_dir in self.STUDIES:
            with self.subTest(study_dir=study_dir):
                self.check(study_dir, page)

    def check(self, study_dir, page):
        with open(osp.join(study_dir, 'selection_rules.json')) as f:
            committed = json.load(f)
        cache = rules.study.RunCache(osp.join(study_dir, 'runs'))
        records = {}
        for model in rules.SWEPT:
            for seed in committed['seeds']:
                with open(cache.path(model, seed)) as f:
                    records[(model, seed)] = json.load(f)
        table = json.loads(
            json.dumps(rules.compare(records, committed['seeds'])))
        self.assertEqual(table.keys(), committed['table'].keys())
        for model, per_rule in table.items():
            for rule, cells in per_rule.items():
                for col, cell in cells.items():
                    ref = committed['table'][model][rule][col]
                    self.assertEqual(
                        cell['beats_today'] if 'beats_today' in cell else None,
                        ref.get('beats_today'))
                    for a, b in zip(cell['seeds'], ref['seeds']):
                        self.assertAlmostEqual(a, b, places=9)
        self.assertEqual(committed['seeds'], [0, 1, 2])
        with open(osp.join(study_dir, 'selection_rules.md')) as f:
            md = f.read()
        self.assertEqual(md, rules.markdown(committed['table']))
        self.assertIn(f'else today\'s): {rules.verdict(table)}.', md)
        self.assertIn(md.strip(), page)

    def test_the_defaults_follow_the_tables(self):
        """Every committed table's verdict is today's rule, the held-out
        bbox AP, and that is the default wherever one is set; a table that
        names another rule fails here until the defaults follow it."""
        from mmdet_causal.engine.runner.debias_sweep_loop import \
            DebiasSweepTestLoop
        for study_dir in self.STUDIES:
            with open(osp.join(study_dir, 'selection_rules.json')) as f:
                table = json.load(f)['table']
            self.assertEqual(
                rules.verdict(table), rules.TODAY,
                f'{study_dir} names {rules.verdict(table)!r} as the default: '
                'make it the default of --select-metric and of the study, '
                'and say why in the README')
        default = inspect.signature(
            DebiasSweepTestLoop).parameters['select_metric'].default
        self.assertEqual((default, rules.study.SELECT_METRIC),
                         ('bbox_AP', 'bbox_AP'))


if __name__ == '__main__':
    unittest.main()
