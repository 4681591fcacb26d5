# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Set the training time of run records from their runs' mmengine logs.

A record kept ``train_s`` as the wall time of the process that finished
its training until the runner read it from the logs (``run.train_seconds``:
the iterations times the median logged iteration time): a training resumed
across processes (a campaign spans sessions) then counted only its last
process. This gives such records, made by an older runner, the time the
runner now records, from the work dirs their runs trained in::

    python benchmarks/long_tail/retime.py \\
        benchmarks/long_tail/study_6400/runs work_dirs/long_tail_6400

A record whose work dir holds another run (other ``inputs``) or no
training log is left as it is, and said so.
"""
import argparse
import glob
import json
import os.path as osp
import sys
from typing import List

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)

from run import train_seconds  # noqa: E402
from study import RunCache  # noqa: E402


def retime(runs_dir: str, work_root: str) -> List[str]:
    """Rewrite the records under ``runs_dir`` whose run trained in
    ``work_root/full/<model>/seed<seed>``; returns a line per record."""
    lines = []
    for path in sorted(glob.glob(osp.join(runs_dir, '*.json'))):
        with open(path) as f:
            record = json.load(f)
        name = f'{record["model"]} seed {record["seed"]}'
        work_dir = osp.join(work_root, 'full', record['model'],
                            f'seed{record["seed"]}')
        stamp = osp.join(work_dir, 'inputs.json')
        if not osp.isfile(stamp):
            lines.append(f'{name}: no work dir at {work_dir}; left as it is')
            continue
        with open(stamp) as f:
            if json.load(f) != record['inputs']:
                lines.append(f'{name}: {work_dir} holds another run; left '
                             'as it is')
                continue
        times = train_seconds(work_dir, record['inputs']['iters'])
        if not times:
            lines.append(f'{name}: no training log in {work_dir}; left as '
                         'it is')
            continue
        old = record.get('train_s')
        RunCache(runs_dir).put(record['model'], record['seed'],
                               record['inputs'], dict(record, **times))
        was = 'none' if old is None else f'{old:.0f}'
        lines.append(f'{name}: train_s {was} -> {times["train_s"]:.0f} s '
                     f'({times["iter_s"]:.3f} s per iteration)')
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('runs_dir', help='a study\'s runs/ folder')
    parser.add_argument('work_root', help='its run.py --work-dir')
    args = parser.parse_args(argv)
    print('\n'.join(retime(args.runs_dir, args.work_root)))


if __name__ == '__main__':
    main()
