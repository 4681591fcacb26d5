# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Carve a held-out split from LVIS v1 train.

    python tools/dataset_converters/lvis_heldout_split.py \\
        data/lvis_v1/annotations/lvis_v1_train.json \\
        --fraction 0.1 --seed 0 --out-dir data/lvis_v1/annotations

writes ``lvis_v1_train_rest.json`` (train on it) and ``lvis_v1_heldout.json``
(choose TDE's alpha or NorCal's gamma on it; report LVIS val) and prints the
images and instances of each split per frequency group. The split is
:func:`mmdet_causal.datasets.carve_heldout_split`: whole images, seeded,
every category losing about ``fraction`` of its images and keeping at least
``--min-train-images``; both files keep the official frequency groups and
count ``image_count``/``instance_count`` from their own annotations.

mmdet's ``LVISV1Dataset`` resolves image paths from ``coco_url``
(``train2017/...``), so the held-out file works with the same
``data_root``/``data_prefix`` as train and val: only ``ann_file`` changes.

At ``--fraction 0.05`` no rare category (1-10 train images) can lend an
image, so the held-out split has no APr; at 0.1 each rare category with 6
or more images may lend one.
"""
import argparse
import json
import os
import os.path as osp
import sys

from mmdet_causal.datasets import carve_heldout_split, split_statistics

GROUP_NAMES = dict(all='all', r='rare', c='common', f='frequent')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Carve a held-out split from LVIS v1 train.')
    parser.add_argument('train_json', help='the LVIS v1 train annotations')
    parser.add_argument(
        '--fraction',
        type=float,
        default=0.1,
        help='share of train images to hold out, in (0, 0.5]')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--min-train-images',
        type=int,
        default=1,
        help='every category keeps at least this many train images')
    parser.add_argument(
        '--out-dir',
        default=None,
        help='where to write the two files (default: beside train_json)')
    parser.add_argument('--rest-name', default='lvis_v1_train_rest.json')
    parser.add_argument('--heldout-name', default='lvis_v1_heldout.json')
    return parser.parse_args(argv)


def format_statistics(name: str, lvis: dict) -> str:
    """One line per frequency group: images, instances, categories."""
    lines = []
    for group, stats in split_statistics(lvis).items():
        lines.append(f'{name:<10} {GROUP_NAMES[group]:<9} '
                     f'{stats["images"]:>8} images {stats["instances"]:>9} '
                     f'instances {stats["categories"]:>5} categories')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    out_dir = args.out_dir or osp.dirname(osp.abspath(args.train_json))
    outputs = [
        osp.join(out_dir, args.rest_name),
        osp.join(out_dir, args.heldout_name)
    ]
    if osp.abspath(args.train_json) in map(osp.abspath, outputs) or \
            outputs[0] == outputs[1]:
        sys.exit('the outputs must differ from train_json and from each '
                 'other: change --rest-name/--heldout-name or --out-dir')
    with open(args.train_json) as f:
        lvis = json.load(f)
    rest, heldout = carve_heldout_split(
        lvis,
        args.fraction,
        seed=args.seed,
        min_train_images=args.min_train_images,
        source=osp.basename(args.train_json))
    os.makedirs(out_dir, exist_ok=True)
    for path, split in zip(outputs, (rest, heldout)):
        with open(path, 'w') as f:
            json.dump(split, f)
        print(f'wrote {path}')

    note = heldout['info']['heldout_split']
    print(f'held out {note["heldout_images"]} of '
          f'{len(lvis["images"])} images (target '
          f'{note["target_heldout_images"]}; the per-category limits can '
          'stop short of it)')
    print(format_statistics('train_rest', rest))
    print(format_statistics('heldout', heldout))
    stats = split_statistics(heldout)
    for group in ('r', 'c', 'f'):
        if stats[group]['categories'] == 0:
            print(f'warning: no {GROUP_NAMES[group]} category in the '
                  f'held-out split, so AP{group} on it is undefined; raise '
                  '--fraction (at 0.1 rare categories with 6+ images may '
                  'lend one)')


if __name__ == '__main__':
    main()
