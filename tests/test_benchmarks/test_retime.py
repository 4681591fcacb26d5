# Copyright (c) mmdet-causal contributors. All rights reserved.
"""A run's training time from its mmengine logs (benchmarks/long_tail/
run.py's train_seconds) and the records retimed from them (retime.py), on
hand-written logs whose median is worked out by hand."""
import json
import os
import os.path as osp
import sys
import tempfile
import unittest

STUDY_DIR = osp.join(
    osp.dirname(__file__), '..', '..', 'benchmarks', 'long_tail')
sys.path.insert(0, osp.abspath(STUDY_DIR))
import retime  # noqa: E402
import run  # noqa: E402

INPUTS = dict(version=1, data='d', config='c', iters=200)


def write_scalars(work_dir, process, rows):
    """One process's ``vis_data/scalars.json`` (a line per logged step)."""
    path = osp.join(work_dir, process, 'vis_data', 'scalars.json')
    os.makedirs(osp.dirname(path))
    with open(path, 'w') as f:
        for row in rows:
            f.write(json.dumps(row) + '\n')


def train_row(it, seconds):
    return dict(iter=it, step=it, time=seconds, loss=1.0, lr=0.02)


class TestTrainSeconds(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.work_dir = osp.join(self.tmp.name, 'full', 'stock', 'seed0')

    def tearDown(self):
        self.tmp.cleanup()

    def write_resumed_training(self):
        """Two processes: the first logs iterations 50-150, one of them
        inside a 600 s stop, and stops; the second resumes from the
        checkpoint at 100 and logs 150 again (its value counts) and 200;
        a test's rows (no loss) are not the training's."""
        write_scalars(
            self.work_dir, '20261201_100000',
            [train_row(50, 0.30),
             train_row(100, 60.0),
             train_row(150, 9.0)])
        write_scalars(
            self.work_dir, '20261201_120000',
            [train_row(150, 0.40), train_row(200, 0.20)])
        write_scalars(self.work_dir, '20261201_130000', [
            dict(step=200, time=5.0, **{'lvis/bbox_AP': 0.5}),
            dict(step=200, data_time=0.1, time=7.0)
        ])

    def test_median_over_distinct_iterations(self):
        self.write_resumed_training()
        # iterations 50, 100, 150 (second process), 200: 0.30, 60.0, 0.40,
        # 0.20 -> median (0.30 + 0.40) / 2; the stop at 100 and the first
        # process's 9.0 at 150 do not count
        self.assertAlmostEqual(
            run.logged_iteration_seconds(self.work_dir), 0.35)
        times = run.train_seconds(self.work_dir, 200)
        self.assertAlmostEqual(times['iter_s'], 0.35)
        self.assertAlmostEqual(times['train_s'], 70.0)

    def test_no_training_log(self):
        os.makedirs(self.work_dir)
        self.assertIsNone(run.logged_iteration_seconds(self.work_dir))
        self.assertEqual(run.train_seconds(self.work_dir, 200), {})

    def write_record(self, runs, model='stock', inputs=INPUTS):
        record = dict(
            model=model, seed=0, inputs=inputs, train_s=12.5, test_s=3.0)
        with open(osp.join(runs, f'{model}_seed0.json'), 'w') as f:
            json.dump(record, f)
        return record

    def test_retime_rewrites_the_records_its_work_dirs_trained(self):
        self.write_resumed_training()
        with open(osp.join(self.work_dir, 'inputs.json'), 'w') as f:
            json.dump(INPUTS, f)
        runs = osp.join(self.tmp.name, 'runs')
        os.makedirs(runs)
        record = self.write_record(runs)
        self.write_record(runs, 'causal')  # trained elsewhere: no work dir
        lines = retime.retime(runs, self.tmp.name)
        self.assertEqual(len(lines), 2)
        self.assertIn('causal seed 0: no work dir', lines[0])
        self.assertIn('stock seed 0: train_s 12 -> 70 s', lines[1])
        with open(osp.join(runs, 'stock_seed0.json')) as f:
            retimed = json.load(f)
        self.assertEqual(retimed,
                         dict(record, train_s=retimed['train_s'], iter_s=0.35))
        self.assertAlmostEqual(retimed['train_s'], 70.0)
        with open(osp.join(runs, 'causal_seed0.json')) as f:
            self.assertEqual(json.load(f)['train_s'], 12.5)

    def test_retime_leaves_a_record_of_another_run(self):
        self.write_resumed_training()
        with open(osp.join(self.work_dir, 'inputs.json'), 'w') as f:
            json.dump(dict(INPUTS, iters=400), f)
        runs = osp.join(self.tmp.name, 'runs')
        os.makedirs(runs)
        self.write_record(runs)
        lines = retime.retime(runs, self.tmp.name)
        self.assertEqual(lines, [
            f'stock seed 0: {self.work_dir} holds another run; left as it '
            'is'
        ])
        with open(osp.join(runs, 'stock_seed0.json')) as f:
            self.assertEqual(json.load(f)['train_s'], 12.5)


if __name__ == '__main__':
    unittest.main()
