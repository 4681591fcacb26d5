# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The GPU kit, as far as a CPU machine can check it: the check script's
steps in a dry run, its progress filter, the wheelhouse list against what
the GPU machine holds, and (when tools/device/prepare.sh has filled .whl)
the wheels' tags and dependencies for CPython 3.12."""
import io
import json
import os
import os.path as osp
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
DEVICE = osp.join(ROOT, 'tools', 'device')
WHL = osp.join(ROOT, '.whl')
sys.path.insert(0, DEVICE)
import build_progress  # noqa: E402

STEPS = [
    'install', 'mmcv', 'cuda_tests', 'mission_data', 'mission_train',
    'mission_test', 'bench_head', 'bench_train_step', 'sweep_gpu',
    'numpy2_tests'
]
#: a python3 for the check's steps that never finishes (and cannot read a
#: GPU's architecture): the deadline and the trap must still report
SLOW_PYTHON = """#!/usr/bin/env bash
case "$*" in *get_device_capability*) exit 1 ;; esac
sleep 60
"""
# the image's OpenCV is the headless build: the same cv2 module
PROVIDED_AS = {'opencv-python': 'opencv-python-headless'}


def norm(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def listed(path):
    with open(path) as f:
        return [
            line.strip() for line in f
            if line.strip() and not line.startswith('#')
        ]


def python312():
    """A working CPython 3.12 here (a pyenv shim may name one that is not
    enabled), or None."""
    import glob
    candidates = [shutil.which('python3.12')] + sorted(
        glob.glob(osp.expanduser('~/.pyenv/versions/3.12*/bin/python3.12')))
    for python in filter(None, candidates):
        proc = subprocess.run([python, '--version'], capture_output=True)
        if proc.returncode == 0:
            return python
    return None


def requires(wheel):
    """A wheel's unconditional requirements and those whose marker holds on
    Linux CPython 3.12 (names only)."""
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith('/METADATA'))
        text = z.read(meta).decode()
    out = []
    for line in text.splitlines():
        if not line.startswith('Requires-Dist:'):
            continue
        req = line.split(':', 1)[1].strip()
        spec, _, marker = req.partition(';')
        if 'extra' in marker or 'win32' in marker or (
                'python_version' in marker and '< "3.1' in marker):
            continue
        out.append(norm(re.split(r'[ <>=!(\[]', spec.strip())[0]))
    return out


class TestCheckScript(unittest.TestCase):

    def fake_wheelhouse(self, tmp):
        whl = osp.join(tmp, 'whl')
        os.makedirs(whl)
        for name in ('onedl_mmdetection-3.5.1-py3-none-any.whl',
                     'onedl_mmcv-2.3.6.tar.gz'):
            open(osp.join(whl, name), 'w').close()
        return whl

    def test_dry_run_lists_every_step(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = osp.join(tmp, 'out')
            proc = subprocess.run(
                ['bash',
                 osp.join(DEVICE, 'check.sh'), out, '--dry-run'],
                env=dict(os.environ, WHL=self.fake_wheelhouse(tmp)),
                cwd=ROOT,
                capture_output=True,
                text=True)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(osp.join(out, 'gpu_check.json')) as f:
                report = json.load(f)
            self.assertTrue(report['dry_run'])
            self.assertEqual([s['step'] for s in report['steps']], STEPS)
            # the commands it would run name the right things
            self.assertIn('--device cuda --synthetic 800x1333', proc.stdout)
            self.assertIn('tests/test_cuda', proc.stdout)
            self.assertIn('dist_train.sh configs/htc_causal_lvis.py 1',
                          proc.stdout)
            self.assertIn('-n auto', proc.stdout)
            self.assertNotIn(' -x ', proc.stdout)
            self.assertEqual(
                sorted(os.listdir(out)), ['gpu_check.json', 'logs.tar.gz'])

    def run_slow(self, tmp, deadline, stop_after=None):
        """check.sh with a python3 that hangs; ``stop_after``: SIGTERM
        after that many seconds, as the device tool stops a command."""
        fake = osp.join(tmp, 'python3')
        with open(fake, 'w') as f:
            f.write(SLOW_PYTHON)
        os.chmod(fake, 0o755)
        out = osp.join(tmp, 'out')
        env = dict(
            os.environ,
            WHL=self.fake_wheelhouse(tmp),
            PYTHON=fake,
            REPORT_PYTHON=sys.executable,
            DEADLINE=str(deadline),
            RESERVE='2',
            WORK=osp.join(tmp, 'work'))
        start = time.time()
        proc = subprocess.Popen(
            ['bash', osp.join(DEVICE, 'check.sh'), out],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True)
        if stop_after is not None:
            time.sleep(stop_after)
            proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=120)
        with open(osp.join(out, 'gpu_check.json')) as f:
            report = json.load(f)
        self.assertTrue(osp.isfile(osp.join(out, 'logs.tar.gz')), stdout)
        self.assertLessEqual(len(os.listdir(out)), 8)
        return proc.returncode, report, time.time() - start, stdout

    def test_the_deadline_holds_and_every_step_is_reported(self):
        with tempfile.TemporaryDirectory() as tmp:
            rc, report, wall, stdout = self.run_slow(tmp, deadline=12)
        status = {s['step']: s['status'] for s in report['steps']}
        self.assertEqual(status['install'], 'timeout', stdout)
        self.assertEqual(status['mmcv'], 'skipped: deadline')
        self.assertEqual(status['cuda_tests'], 'skipped: deadline')
        self.assertEqual(status['mission_data'], 'skipped: no mmcv ops')
        self.assertEqual(status['numpy2_tests'], 'skipped: deadline')
        self.assertEqual(report['cuda_arch'], '9.0')  # unreadable: the H200's
        self.assertEqual(report['mmcv_ops'], 'none')
        self.assertLess(wall, 12 + 25)  # the deadline, timeout -k, report

    def test_a_stop_from_outside_still_reports(self):
        with tempfile.TemporaryDirectory() as tmp:
            rc, report, wall, stdout = self.run_slow(
                tmp, deadline=300, stop_after=4)
        self.assertEqual(rc, 143, stdout)
        steps = {s['step']: s['status'] for s in report['steps']}
        self.assertEqual(steps.get('stopped'), 'killed', stdout)
        self.assertLess(wall, 30)  # not the 60 s the step would have hung

    def test_refuses_without_a_wheelhouse(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                ['bash',
                 osp.join(DEVICE, 'check.sh'), tmp, '--dry-run'],
                env=dict(os.environ, WHL=osp.join(tmp, 'none')),
                cwd=ROOT,
                capture_output=True,
                text=True)
            self.assertEqual(proc.returncode, 2)
            self.assertIn('prepare.sh', proc.stdout)

    def test_build_progress_lines(self):
        lines = io.StringIO(
            '  [1/4] c++ -c a.cpp -o /b/build/x/roi_align.o -O2\n'
            '  running build_ext\n'
            '  [4/4] nvcc -c nms.cu -o /b/build/nms_cuda.o\n'
            '  error: command failed\n')
        out = io.StringIO()
        build_progress.main(lines, out, start=0)
        got = out.getvalue().splitlines()
        self.assertTrue(got[0].startswith('[build] [1/4] roi_align.o ('))
        self.assertTrue(got[1].startswith('[build] [4/4] nms_cuda.o ('))
        self.assertIn('error: command failed', got[2])
        self.assertEqual(len(got), 3)


class TestWheelhouse(unittest.TestCase):

    def test_list_is_pinned_once_each(self):
        reqs = listed(osp.join(DEVICE, 'wheelhouse.txt'))
        names = [norm(r.split('==')[0]) for r in reqs]
        self.assertTrue(all('==' in r for r in reqs), reqs)
        self.assertEqual(len(names), len(set(names)))
        device = {
            norm(n)
            for n in listed(osp.join(DEVICE, 'device_packages.txt'))
        }
        # nothing carried that the machine has (two versions stop pip),
        # except setuptools, >= 80 for onedl-mmcv's source build
        self.assertEqual(set(names) & device, {'setuptools'})

    def wheels(self):
        if not osp.isdir(WHL) or not any(
                n.endswith('.whl') for n in os.listdir(WHL)):
            self.skipTest('no wheelhouse: run tools/device/prepare.sh')
        return sorted(
            osp.join(WHL, n) for n in os.listdir(WHL) if n.endswith('.whl'))

    def test_dependencies_are_carried_or_on_the_machine(self):
        wheels = self.wheels()
        carried = {norm(osp.basename(w).split('-')[0]) for w in wheels}
        device = {
            norm(n)
            for n in listed(osp.join(DEVICE, 'device_packages.txt'))
        }
        for wheel in wheels:
            for dep in requires(wheel):
                dep = PROVIDED_AS.get(dep, dep)
                self.assertTrue(dep in carried or dep in device,
                                f'{osp.basename(wheel)} needs {dep}')

    def test_installs_offline_into_a_clean_python312_venv(self):
        wheels = self.wheels()
        python = python312()
        if python is None:
            self.skipTest('no python3.12 here')
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([python, '-m', 'venv',
                            osp.join(tmp, 'venv')],
                           check=True)
            pip = osp.join(tmp, 'venv', 'bin', 'pip')
            proc = subprocess.run(
                [pip, 'install', '-q', '--no-index', '--no-deps'] + wheels,
                capture_output=True,
                text=True)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            # pure-python parts import without the rest of the stack
            proc = subprocess.run([
                osp.join(tmp, 'venv', 'bin', 'python'), '-c',
                'import addict, termcolor, terminaltables, yapf, '
                'shapely, pycocotools.mask, hotcoco'
            ],
                                  capture_output=True,
                                  text=True)
            self.assertIn(proc.returncode, (0, 1))
            if proc.returncode:
                # only numpy, which the machine has, may be missing here
                self.assertIn("No module named 'numpy'", proc.stderr)


if __name__ == '__main__':
    unittest.main()
