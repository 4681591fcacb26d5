# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Write the built-in tiny LVIS (or the harder long-tail set) to disk.

Prints the train, held-out and val splits, per frequency group.

    python tools/misc/make_tiny_lvis.py [--out data/tiny_lvis]
        [--preset tiny|longtail|longtail2] [--seed 0] [--force]
"""
import argparse
import json
import time
from collections import Counter
from dataclasses import replace

from mmdet_causal.datasets import split_statistics
from mmdet_causal.testing import PRESETS, generate_tiny_lvis


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='data/tiny_lvis')
    parser.add_argument('--preset', choices=sorted(PRESETS), default='tiny')
    parser.add_argument('--seed', type=int, default=None)
    parser.add_argument(
        '--force', action='store_true', help='regenerate if present')
    return parser.parse_args()


def main():
    args = parse_args()
    spec = PRESETS[args.preset]
    if args.seed is not None:
        spec = replace(spec, seed=args.seed)
    start = time.time()
    paths = generate_tiny_lvis(args.out, spec, force=args.force)
    data = {}
    for split, path in paths.items():
        with open(path) as f:
            data[split] = json.load(f)
    train, val = data['train'], data['val']
    groups = Counter(c['frequency'] for c in train['categories'])
    # val carries the official counts: all drawn train images, held-out
    # ones included (the train file counts only what is left for training)
    counts = sorted((c['image_count'] for c in val['categories']),
                    reverse=True)
    print(
        f'{args.preset} LVIS at {args.out} ({time.time() - start:.1f} s): '
        f'{len(train["images"])} train / {len(val["images"])} val images, '
        f'{len(train["annotations"])} / {len(val["annotations"])} '
        f'instances, {len(train["categories"])} classes '
        f'(r {groups["r"]}, c {groups["c"]}, f {groups["f"]}); '
        f'train images per class {counts[0]} .. {counts[-1]}' +
        (' (before carving the held-out split)' if 'heldout' in data else ''))
    print('images / instances / classes present, per frequency group:')
    for split in ('train', 'heldout', 'val'):
        if split in data:
            parts = [
                f'{group} {s["images"]} / {s["instances"]} / '
                f'{s["categories"]}'
                for group, s in split_statistics(data[split]).items()
            ]
            print(f'  {split:<8}' + ', '.join(parts))


if __name__ == '__main__':
    main()
