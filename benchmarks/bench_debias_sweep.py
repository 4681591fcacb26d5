# Copyright (c) mmdet-causal contributors. All rights reserved.
"""A 6-alpha sweep against one tools/test.py run, on the same data.

    python benchmarks/bench_sweep_alpha.py [--config CFG] [--checkpoint CKPT]

Without a checkpoint it trains the tiny causal HTC for one epoch first (the
speed does not depend on how well the model is trained, only on how many
detections it makes). Prints both wall times (process start, model and data
loading included, as a user waits for them) and their ratio; the naive way
costs 6 test runs.
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/tiny/htc-causal_r18_fpn_tiny-lvis.py'
ALPHAS = ['0', '0.5', '1', '1.5', '2', '2.5']


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--checkpoint')
    parser.add_argument('--work-dir', default='work_dirs/bench_sweep')
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument(
        '--eval',
        nargs='+',
        default=['bbox', 'segm'],
        help='metrics of both runs; a bbox-only sweep skips the mask head')
    parser.add_argument('--json', help='also write the figures here')
    return parser.parse_args()


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(
        cmd,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    args = parse_args()
    py = sys.executable
    subprocess.run([py, 'tools/misc/make_tiny_lvis.py'], cwd=ROOT, check=True)
    ckpt = args.checkpoint
    if ckpt is None:
        subprocess.run([
            py, 'tools/train.py', args.config, '--work-dir', args.work_dir,
            '--cfg-options', 'train_cfg.max_epochs=1',
            'default_hooks.checkpoint.interval=1'
        ],
                       cwd=ROOT,
                       check=True,
                       stdout=subprocess.DEVNULL)
        ckpt = osp.join(args.work_dir, 'epoch_1.pth')
    test_cmd = [
        py, 'tools/test.py', args.config, ckpt, '--work-dir', args.work_dir,
        '--eval', *args.eval, '--tde-alpha', '1.5'
    ]
    sweep_cmd = [
        py, 'tools/sweep_alpha.py', args.config, ckpt, '--eval', *args.eval,
        '--out',
        osp.join(args.work_dir, 'sweep'), '--alphas'
    ] + ALPHAS
    test_s, sweep_s = [], []
    for _ in range(args.repeats):  # interleaved
        test_s.append(timed(test_cmd))
        sweep_s.append(timed(sweep_cmd))
    t, s = min(test_s), min(sweep_s)
    print(f'--eval {" ".join(args.eval)}: one tools/test.py run: '
          f'{t:.1f} s; sweep over {len(ALPHAS)} alphas: {s:.1f} s; '
          f'ratio {s / t:.2f} (naive: {len(ALPHAS)}.00); best of '
          f'{args.repeats} interleaved runs')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(
                dict(
                    test_s=test_s,
                    sweep_s=sweep_s,
                    alphas=ALPHAS,
                    eval=args.eval,
                    ratio=s / t,
                    config=args.config),
                f,
                indent=1)


if __name__ == '__main__':
    main()
