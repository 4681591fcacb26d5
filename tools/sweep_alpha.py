# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Evaluate a causal detector at many TDE alphas from one inference pass.

    python tools/sweep_alpha.py CONFIG CKPT --alphas 0 0.5 1 1.5 2 2.5
        [--eval bbox segm] [--out DIR] [--cfg-options ...]

An alias of ``tools/test.py CONFIG CKPT --tde-alphas ... --sweep-out DIR``
(kept for the first wave's users): the sweep is mmengine's test loop
``DebiasSweepTestLoop``, so it also runs on many GPUs with
``tools/dist_test.sh CONFIG CKPT N --tde-alphas ...``. It writes
``sweep.json``, ``sweep.md`` and ``sweep.png`` to ``--out``.
"""
import argparse
import os.path as osp
import runpy
import sys


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument(
        '--alphas', type=float, nargs='+', default=[0, 0.5, 1, 1.5, 2, 2.5])
    parser.add_argument('--eval', nargs='+', metavar='METRIC')
    parser.add_argument('--out', default='work_dirs/alpha_sweep')
    parser.add_argument('--cfg-options', nargs='+')
    return parser.parse_args()


def main():
    args = parse_args()
    argv = [
        'tools/test.py', args.config, args.checkpoint, '--work-dir', args.out,
        '--sweep-out', args.out, '--tde-alphas'
    ] + [str(a) for a in args.alphas]
    if args.eval:
        argv += ['--eval'] + args.eval
    if args.cfg_options:
        argv += ['--cfg-options'] + args.cfg_options
    sys.argv = argv
    runpy.run_path(
        osp.join(osp.dirname(osp.abspath(__file__)), 'test.py'),
        run_name='__main__')


if __name__ == '__main__':
    main()
