# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The one-pass strength sweep against one tools/test.py run, and two
processes against one.

    python benchmarks/bench_debias_sweep.py [--checkpoint CKPT]
        [--repeats 3] [--eval bbox segm] [--json OUT]

Times, on the same data and checkpoint, as a user waits for them (process
start, model and data loading included; best of ``--repeats`` interleaved
runs):

* ``test``: one ``tools/test.py --tde-alpha 1.5`` run;
* ``tde6``: ``tools/test.py --tde-alphas`` with 6 alphas;
* ``mixed6``: 3 alphas x 2 NorCal gammas (6 strengths);
* ``tde6_2proc``: ``tde6`` on two processes (gloo, one torch thread each),
  as ``tools/dist_test.sh ... 2`` runs it (``run_on_cpu_ranks``).

Prints each sweep's ratio to ``test`` (the naive way costs 6) and the
two-process speed-up, of the whole command and of the sweep loop alone
(``total_s`` of its ``sweep.json``: inference and evaluation, after the
processes have started and loaded the model). Without a checkpoint it
trains the tiny causal HTC for one epoch first (the speed depends on how
many detections the model makes, not on how good they are).
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
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument(
        '--eval',
        nargs='+',
        default=['bbox', 'segm'],
        help='metrics of every run; a bbox-only sweep skips the mask head')
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
    counts = 'data/tiny_lvis/annotations/lvis_v1_train.json'

    def test_argv(name, *flags):
        out = osp.join(args.work_dir, name)
        return [
            args.config, ckpt, '--work-dir', out, '--eval', *args.eval, *flags
        ]

    sweep6 = test_argv('tde6', '--tde-alphas', *ALPHAS)
    two_proc = (
        'from mmdet_causal.testing.cpu_distributed import run_on_cpu_ranks; '
        f'run_on_cpu_ranks("tools/test.py", {test_argv("tde6_2proc", "--tde-alphas", *ALPHAS) + ["--cfg-options", "env_cfg.dist_cfg.backend=gloo"]!r}, '  # noqa: E501
        'nprocs=2, threads=1)')
    commands = dict(
        test=[py, 'tools/test.py'] + test_argv('test', '--tde-alpha', '1.5'),
        tde6=[py, 'tools/test.py'] + sweep6,
        mixed6=[py, 'tools/test.py'] +
        test_argv('mixed6', '--tde-alphas', '0', '1', '2', '--norcal-gammas',
                  '0', '0.5', '--class-counts', counts),
        tde6_2proc=[py, '-c', two_proc])
    times = {name: [] for name in commands}
    # the sweep loop's own time (its runner built, checkpoint loaded),
    # from its sweep.json: what a long test set scales with
    loop_s = {name: [] for name in commands if name != 'test'}
    for _ in range(args.repeats):  # interleaved
        for name, cmd in commands.items():
            times[name].append(timed(cmd))
            if name in loop_s:
                with open(
                        osp.join(ROOT, args.work_dir, name, 'sweep',
                                 'sweep.json')) as f:
                    loop_s[name].append(json.load(f)['total_s'])
    best = {name: min(t) for name, t in times.items()}
    best_loop = {name: min(t) for name, t in loop_s.items()}
    print(f'--eval {" ".join(args.eval)}, best of {args.repeats} '
          'interleaved runs:')
    print(f'  one tools/test.py run:          {best["test"]:.1f} s')
    for name, label in (('tde6', '6 TDE alphas'),
                        ('mixed6', '3 alphas x 2 NorCal gammas')):
        print(f'  sweep, {label + ":":<27}{best[name]:.1f} s, ratio '
              f'{best[name] / best["test"]:.2f} (naive: 6.00)')
    print(f'  6 alphas on 2 processes:        {best["tde6_2proc"]:.1f} s, '
          f'speed-up {best["tde6"] / best["tde6_2proc"]:.2f} over 1 process')
    print(f'  the sweep loop alone (inference + evaluation, after start-up): '
          f'{best_loop["tde6"]:.1f} s on 1 process, '
          f'{best_loop["tde6_2proc"]:.1f} s on 2, speed-up '
          f'{best_loop["tde6"] / best_loop["tde6_2proc"]:.2f}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(
                dict(
                    times_s=times,
                    best_s=best,
                    loop_s=loop_s,
                    best_loop_s=best_loop,
                    speedup_2proc_loop=best_loop['tde6'] /
                    best_loop['tde6_2proc'],
                    ratio_tde6=best['tde6'] / best['test'],
                    ratio_mixed6=best['mixed6'] / best['test'],
                    speedup_2proc=best['tde6'] / best['tde6_2proc'],
                    eval=args.eval,
                    config=args.config,
                    checkpoint=ckpt),
                f,
                indent=1)


if __name__ == '__main__':
    main()
