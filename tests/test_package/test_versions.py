# Copyright (c) mmdet-causal contributors. All rights reserved.
"""``import mmdet_causal`` refuses an OpenMMLab version outside the
supported ranges of both lines (upstream and the onedl fork), naming both,
and a mix of the two lines; the ranges are those pip sees."""
import os.path as osp
import re
import subprocess
import sys
import types
import unittest

import mmdet_causal
from mmdet_causal.stack import DISTRIBUTIONS, check_stack

ROOT = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..')

#: The versions each line was tested with (the README's stack table).
TESTED = dict(
    upstream=dict(mmcv='2.1.0', mmdet='3.3.0', mmengine='0.10.7'),
    onedl=dict(mmcv='2.3.6', mmdet='3.5.1', mmengine='0.10.12'))


def import_with(versions: dict) -> subprocess.CompletedProcess:
    """Import mmdet_causal in a fresh interpreter where each module of
    ``versions`` claims to be that version (whatever is installed); mmdet
    first, so that its own check of mmcv sees the installed one."""
    code = ''.join(f'import {name}; {name}.__version__ = {version!r}; '
                   for name, version in sorted(
                       versions.items(), key=lambda kv: kv[0] != 'mmdet'))
    return subprocess.run([sys.executable, '-c', code + 'import mmdet_causal'],
                          capture_output=True,
                          text=True)


def fake(name: str, version: str) -> types.SimpleNamespace:
    """What the check reads of a module: its name and version."""
    return types.SimpleNamespace(__name__=name, __version__=version)


class TestSupportedVersions(unittest.TestCase):

    def assert_names_both_lines(self, message: str, name: str, bad: str):
        self.assertIn(f'{name}=={bad}, which is installed', message)
        for line, limits in mmdet_causal.SUPPORTED_VERSIONS.items():
            low, high = limits[name]
            dist = DISTRIBUTIONS[line][name]
            self.assertIn(f'pip install "{dist}>={low},<{high}" ({line})',
                          message)

    def test_unsupported_versions_fail_naming_both_lines(self):
        for name, bad in (('mmdet', '3.2.0'), ('mmdet', '3.4.0'),
                          ('mmdet', '3.6.0'), ('mmcv', '2.2.0'),
                          ('mmcv', '1.7.1'), ('mmcv', '2.4.0'),
                          ('mmengine', '0.9.1'), ('mmengine', '1.0.0')):
            for line, tested in TESTED.items():
                modules = [
                    fake(n, bad if n == name else v)
                    for n, v in tested.items()
                ]
                with self.assertRaises(ImportError, msg=(name, bad)) as err:
                    check_stack(*modules)
                self.assert_names_both_lines(str(err.exception), name, bad)

    def test_the_import_checks_mmcv_before_mmdet_asserts_its_own(self):
        # in a fresh interpreter, through the import itself: mmdet is not
        # imported yet, so its own assertion on mmcv would speak first
        out = import_with({'mmcv': '2.2.0'})
        self.assertNotEqual(out.returncode, 0)
        self.assertIn('ImportError', out.stderr)
        self.assertNotIn('AssertionError', out.stderr)
        self.assert_names_both_lines(out.stderr, 'mmcv', '2.2.0')

    def test_every_tested_stack_passes(self):
        for stack in TESTED.values():
            self.assertIsNone(
                check_stack(*(fake(n, v) for n, v in stack.items())))

    def test_a_mix_of_the_two_lines_is_refused(self):
        upstream, onedl = TESTED['upstream'], TESTED['onedl']
        for mixed in (dict(upstream, mmdet=onedl['mmdet']),
                      dict(onedl, mmcv=upstream['mmcv'])):
            with self.assertRaisesRegex(ImportError,
                                        'mix the upstream OpenMMLab packages'):
                check_stack(*(fake(n, v) for n, v in mixed.items()))
        # through the import, where mmdet checks mmcv first
        out = import_with(dict(upstream, mmdet=onedl['mmdet']))
        self.assertNotEqual(out.returncode, 0)
        self.assertIn('mix the upstream OpenMMLab packages', out.stderr)

    def test_ranges_are_those_of_mminstall(self):
        for line, fname in (('upstream', 'mminstall.txt'),
                            ('onedl', 'mminstall-onedl.txt')):
            with open(osp.join(ROOT, 'requirements', fname)) as f:
                reqs = re.findall(r'^([\w-]+)>=([\w.]+),<([\w.]+)$', f.read(),
                                  re.M)
            dists = {d: m for m, d in DISTRIBUTIONS[line].items()}
            self.assertEqual(
                {
                    dists[dist]: (low, high)
                    for dist, low, high in reqs
                }, mmdet_causal.SUPPORTED_VERSIONS[line])


if __name__ == '__main__':
    unittest.main()
