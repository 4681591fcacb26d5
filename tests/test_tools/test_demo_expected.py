# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The demo's guard against drift: the README shows exactly the committed
expected table, and the demo says plainly when a run differs from it."""
import contextlib
import copy
import importlib.util
import io
import json
import os.path as osp
import unittest

ROOT = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..')


def load_demo():
    spec = importlib.util.spec_from_file_location(
        'tiny_lvis_demo', osp.join(ROOT, 'tools', 'tiny_lvis_demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestDemoExpectedTable(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.demo = load_demo()
        with open(cls.demo.EXPECTED) as f:
            cls.expected = json.load(f)

    def test_readme_shows_the_expected_table(self):
        table = self.demo.format_table(
            [tuple(row) for row in self.expected['rows']])
        with open(osp.join(ROOT, 'README.md')) as f:
            readme = f.read()
        self.assertIn(table, readme)
        alpha = self.expected['rule_of_thumb_alpha']
        self.assertIn(f'TDE (rule of thumb {alpha:.2f})', table)

    def test_readme_quotes_the_published_alphas_cost(self):
        """What the README says alpha 1.5 costs is the table's difference
        (of the numbers as shown) from alpha 0."""
        rows = dict(self.expected['rows'])
        cost = {
            col:
            round(100 * rows['de-confound (alpha 0)'][f'lvis/{col}'], 1) -
            round(100 * rows['TDE (alpha 1.5)'][f'lvis/{col}'], 1)
            for col in ('bbox_AP', 'bbox_APr')
        }
        with open(osp.join(ROOT, 'README.md')) as f:
            readme = ' '.join(f.read().split())
        self.assertIn(
            f'The published alpha 1.5 costs {cost["bbox_AP"]:.1f} bbox AP '
            f'and {cost["bbox_APr"]:.1f} bbox APr here', readme)
        self.assertIn(f'the published 1.5 by {cost["bbox_AP"]:.1f} bbox AP',
                      readme)

    def compare(self, rows, alpha, env):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            same = self.demo.compare_with_expected(rows, alpha, env)
        return same, out.getvalue()

    def test_same_run_is_reported_equal(self):
        rows = [tuple(r) for r in self.expected['rows']]
        same, text = self.compare(rows, self.expected['rule_of_thumb_alpha'],
                                  self.expected['environment'])
        self.assertTrue(same)
        self.assertIn('equals the committed expected', text)

    def test_drift_is_reported_with_its_likely_causes(self):
        rows = copy.deepcopy([list(r) for r in self.expected['rows']])
        rows[0][1]['lvis/bbox_AP'] += 0.045
        env = dict(self.expected['environment'])
        env.update(data_sha256='0' * 64, pillow='0.0.1')
        same, text = self.compare([tuple(r) for r in rows],
                                  self.expected['rule_of_thumb_alpha'], env)
        self.assertFalse(same)
        self.assertIn('DIFFERS', text)
        self.assertIn(f'{rows[0][0]}: lvis/bbox_AP', text)
        self.assertIn('generated data differ', text)
        self.assertIn('pillow: 0.0.1 here', text)
        # a last-digit rounding difference is not drift
        rows[0][1]['lvis/bbox_AP'] -= 0.045 - 0.0004
        same, _ = self.compare([tuple(r) for r in rows],
                               self.expected['rule_of_thumb_alpha'],
                               self.expected['environment'])
        self.assertTrue(same)


if __name__ == '__main__':
    unittest.main()
