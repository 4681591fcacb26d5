# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The mmcv build's progress filter over real `pip install -v` lines.

tests/data/pip_v_mmcv_build.log holds lines of a real build log of mmcv
2.1.0 (pip indents the build's output by two spaces, which once made the
filter match nothing at all)."""
import os.path as osp
import re
import shutil
import subprocess
import time
import unittest

ROOT = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..')
AWK = osp.join(ROOT, 'tools', 'misc', 'mmcv_build_progress.awk')
SAMPLE = osp.join(ROOT, 'tests', 'data', 'pip_v_mmcv_build.log')


@unittest.skipIf(shutil.which('awk') is None, 'no awk on this machine')
class TestMmcvBuildProgress(unittest.TestCase):

    def run_filter(self, text, t0):
        return subprocess.run(['awk', '-v', f't0={t0}', '-f', AWK],
                              input=text,
                              capture_output=True,
                              text=True,
                              check=True).stdout.splitlines()

    def test_one_line_per_compiled_unit_of_a_real_log(self):
        with open(SAMPLE) as f:
            text = f.read()
        units = re.findall(r'^\s*\[(\d+)/(\d+)\] .* -o (\S+)', text, re.M)
        self.assertEqual(len(units), 4)  # the sample's compile lines
        # the build started 100 s ago
        lines = self.run_filter(text, int(time.time()) - 100)
        progress = [
            line for line in lines if line.startswith('[bootstrap] mmcv [')
        ]
        self.assertEqual(len(progress), len(units))
        for line, (done, total, obj) in zip(progress, units):
            m = re.fullmatch(
                r'\[bootstrap\] mmcv \[(\d+)/(\d+)\] (\S+) '
                r'\((\d+)s elapsed, ~(\d+)s left\)', line)
            self.assertIsNotNone(m, line)
            self.assertEqual(
                m.group(1, 2, 3), (done, total, osp.basename(obj)))
            elapsed, left = int(m.group(4)), int(m.group(5))
            self.assertTrue(100 <= elapsed <= 160, line)
            # remaining time extrapolated from the units done so far
            self.assertAlmostEqual(
                left, elapsed * (int(total) - int(done)) / int(done), delta=1)
        self.assertIn('~0s left', progress[-1])  # [77/77]
        # warnings and include chains stay in the full log only
        self.assertFalse(any('warning' in line for line in lines))
        self.assertTrue(
            lines[-1].startswith('[bootstrap] Successfully installed'))

    def test_compiler_lines_without_ninja(self):
        lines = self.run_filter(
            '  gcc -pthread -O3 -fPIC -c mmcv/ops/csrc/pytorch/nms.cpp '
            '-o build/temp/mmcv/ops/csrc/pytorch/nms.o\n', int(time.time()))
        self.assertEqual(len(lines), 1)
        self.assertRegex(lines[0],
                         r'^\[bootstrap\] mmcv compiling nms\.o \(\d+s')


if __name__ == '__main__':
    unittest.main()
