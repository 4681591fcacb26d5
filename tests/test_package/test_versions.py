# Copyright (c) mmdet-causal contributors. All rights reserved.
"""``import mmdet_causal`` refuses an OpenMMLab version outside the
supported ranges, naming the range; the ranges are those pip sees."""
import os.path as osp
import re
import subprocess
import sys
import unittest

import mmdet_causal

ROOT = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..')


def import_with(name: str, version: str) -> subprocess.CompletedProcess:
    """Import mmdet_causal in a fresh interpreter where ``name`` claims to
    be ``version``."""
    code = (f'import {name}; {name}.__version__ = {version!r}; '
            'import mmdet_causal')
    return subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True)


class TestSupportedVersions(unittest.TestCase):

    def test_unsupported_versions_fail_naming_the_range(self):
        for name, bad in (('mmdet', '3.2.0'), ('mmdet', '3.4.0'),
                          ('mmcv', '2.2.0'), ('mmcv', '1.7.1'),
                          ('mmengine', '0.9.1'), ('mmengine', '1.0.0')):
            low, high = mmdet_causal.SUPPORTED_VERSIONS[name]
            out = import_with(name, bad)
            self.assertNotEqual(out.returncode, 0, (name, bad))
            self.assertIn('ImportError', out.stderr)
            self.assertIn(f'{name}=={bad} is installed', out.stderr)
            self.assertIn(f'pip install "{name}>={low},<{high}"', out.stderr)

    def test_the_installed_stack_imports(self):
        for name in ('mmdet', 'mmcv', 'mmengine'):
            module = __import__(name)
            out = import_with(name, module.__version__)
            self.assertEqual(out.returncode, 0, out.stderr)

    def test_ranges_are_those_of_mminstall(self):
        with open(osp.join(ROOT, 'requirements', 'mminstall.txt')) as f:
            reqs = re.findall(r'^(\w+)>=([\w.]+),<([\w.]+)$', f.read(), re.M)
        self.assertEqual({
            name: (low, high)
            for name, low, high in reqs
        }, mmdet_causal.SUPPORTED_VERSIONS)


if __name__ == '__main__':
    unittest.main()
