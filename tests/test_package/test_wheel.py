# Copyright (c) mmdet-causal contributors. All rights reserved.
"""A user's view of the package: the wheel, installed non-editable in a
throwaway venv (reusing this environment's torch/mmcv/mmdet), runs a user
config that lives outside the repository and inherits one of ours through
``mmdet_causal::``, and predicts on a generated image."""
import glob
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import unittest
import zipfile

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
# what a source checkout holds besides the source
NOT_SOURCE = ('.git', '.venv*', '.whl', 'data', 'work_dirs', 'build', 'dist',
              '.mim', '*.egg-info', '__pycache__', '.pytest_cache')

USER_CONFIG = """\
_base_ = 'mmdet_causal::tiny/htc-causal_r18_fpn_tiny-lvis.py'
# a user's own change on top of the shipped config
model = dict(test_cfg=dict(rcnn=dict(score_thr=0.0, max_per_img=20)))
"""

USER_SCRIPT = """\
import os.path as osp
import sys

import numpy as np

import mmdet_causal  # before the config is read: it resolves mmdet_causal::
from mmdet.apis import inference_detector, init_detector
from mmengine.config import Config

site = sys.argv[1]
assert mmdet_causal.__file__.startswith(site), mmdet_causal.__file__
cfg = Config.fromfile('my_config.py')
assert cfg.model.roi_head.type == 'CausalHybridTaskCascadeRoIHead'
assert cfg.model.test_cfg.rcnn.max_per_img == 20
model = init_detector(cfg, checkpoint=None, device='cpu')
image = np.random.RandomState(0).randint(0, 255, (96, 128, 3), np.uint8)
result = inference_detector(model, image).pred_instances
assert 0 < len(result) <= 20, len(result)
assert result.masks.shape[1:] == (96, 128), result.masks.shape
print('detections', len(result), 'from', osp.dirname(mmdet_causal.__file__))
"""


class TestWheel(unittest.TestCase):

    def assertStackIsAnExtra(self, wheel):
        """Neither line's packages are plain requirements (pip would mix
        the two, which install the same modules); each is an extra."""
        with zipfile.ZipFile(wheel) as z:
            (name, ) = [n for n in z.namelist() if n.endswith('/METADATA')]
            requires = [
                line.split(':', 1)[1].strip()
                for line in z.read(name).decode().splitlines()
                if line.startswith('Requires-Dist:')
            ]
        plain = [r for r in requires if 'extra ==' not in r]
        self.assertFalse([r for r in plain if r.startswith(('mm', 'onedl'))],
                         plain)
        for extra, names in (('upstream', ('mmcv', 'mmdet', 'mmengine')),
                             ('onedl', ('onedl-mmcv', 'onedl-mmdetection',
                                        'onedl-mmengine'))):
            got = sorted(
                re.split('[<>=;]', r)[0] for r in requires
                if f'extra == "{extra}"' in r)
            self.assertEqual(got, sorted(names), extra)

    def test_wheel_from_sdist_runs_a_user_config(self):
        with tempfile.TemporaryDirectory() as tmp:
            src, dist = osp.join(tmp, 'src'), osp.join(tmp, 'dist')
            shutil.copytree(
                ROOT, src, ignore=shutil.ignore_patterns(*NOT_SOURCE))
            # source -> sdist -> wheel: what `pip install mmdet-causal`
            # does with a published sdist (the wheel of a source tree is
            # the shorter path of the same build)
            subprocess.run(
                [sys.executable, 'setup.py', '-q', 'sdist', '-d', dist],
                cwd=src,
                check=True,
                capture_output=True)
            (sdist, ) = glob.glob(osp.join(dist, 'mmdet*causal-*.tar.gz'))
            out = subprocess.run([
                sys.executable, '-m', 'pip', 'wheel', '--no-deps',
                '--no-build-isolation', '--no-index', '-q', '-w', dist, sdist
            ],
                                 capture_output=True,
                                 text=True)
            self.assertEqual(out.returncode, 0, out.stderr[-3000:])
            (wheel, ) = glob.glob(osp.join(dist, 'mmdet_causal-*.whl'))
            self.assertStackIsAnExtra(wheel)

            venv = osp.join(tmp, 'venv')
            subprocess.run(
                [sys.executable, '-m', 'venv', '--without-pip', venv],
                check=True)
            python = osp.join(venv, 'bin', 'python')
            site = subprocess.run([
                python, '-c', 'import sysconfig; '
                'print(sysconfig.get_paths()["purelib"])'
            ],
                                  check=True,
                                  capture_output=True,
                                  text=True).stdout.strip()
            # the stack of this environment (torch, mmcv with its compiled
            # ops, mmdet), without this environment's editable mmdet_causal
            # (its .pth files are not read from a path added this way)
            with open(osp.join(site, 'stack.pth'), 'w') as f:
                f.write(sysconfig.get_paths()['purelib'] + '\n')
            subprocess.run([
                sys.executable, '-m', 'pip', 'install', '--no-deps',
                '--no-index', '-q', '--target', site, wheel
            ],
                           check=True,
                           capture_output=True)
            self.assertTrue(
                osp.isfile(
                    osp.join(site, 'mmdet_causal', '.mim', 'configs', 'tiny',
                             'htc-causal_r18_fpn_tiny-lvis.py')))

            user = osp.join(tmp, 'user')  # outside the repository
            os.makedirs(user)
            with open(osp.join(user, 'my_config.py'), 'w') as f:
                f.write(USER_CONFIG)
            with open(osp.join(user, 'predict.py'), 'w') as f:
                f.write(textwrap.dedent(USER_SCRIPT))
            env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
            out = subprocess.run([python, 'predict.py', site],
                                 cwd=user,
                                 env=env,
                                 capture_output=True,
                                 text=True)
            self.assertEqual(out.returncode, 0, out.stderr[-3000:])
            self.assertIn('detections', out.stdout)


if __name__ == '__main__':
    unittest.main()
