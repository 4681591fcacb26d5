# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Detections of one model at several test-time strengths, side by side.

    python tools/analysis_tools/tde_visualize.py CONFIG CKPT IMAGE ... \\
        [--alphas 0 1.5] [--class NAME] [--out DIR]

One figure per image: a panel per strength drawn by mmdet's
DetLocalVisualizer (boxes, masks, class names, scores), the boxes whose
label changes between strengths outlined in white and numbered, and below
the panels their five most probable classes at every strength. A causal
model is shown at TDE alphas (alpha 0 is the plain de-confounded model); a
stock model at NorCal gammas (``--gammas``; counts from the checkpoint or
``--class-counts``), or as it is. ``--json`` also writes what the figures
are made of.
"""
import argparse
import json
import os
import os.path as osp

from mmdet_causal.apis.debias_sweep import strength_grid
from mmdet_causal.utils.tde import causal_bbox_heads
from mmdet_causal.visualization.detections import load_detector, log_counts_for
from mmdet_causal.visualization.strength_panels import (compare_strengths,
                                                        draw_comparison)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 1)[1])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('images', nargs='+', metavar='IMAGE')
    parser.add_argument(
        '--alphas',
        type=float,
        nargs='+',
        help='TDE alphas (causal models; default 0 1.5)')
    parser.add_argument(
        '--gammas', type=float, nargs='+', help='NorCal gammas')
    parser.add_argument(
        '--class',
        dest='class_name',
        help='report only boxes shown as this class at some strength')
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument(
        '--max-changed',
        type=int,
        default=3,
        help='at most this many changed boxes per image')
    parser.add_argument(
        '--class-counts',
        help='training annotations for NorCal counts (default: the '
        'checkpoint\'s)')
    parser.add_argument(
        '--count-by',
        choices=('instance_count', 'image_count'),
        default='instance_count')
    parser.add_argument('--out', default='work_dirs/tde_visualize')
    parser.add_argument(
        '--json', action='store_true', help='also write <image>.json')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    model = load_detector(args.config, args.checkpoint, args.device)
    alphas = args.alphas
    if alphas is None and causal_bbox_heads(model):
        alphas = [0, 1.5]
    strengths = strength_grid(alphas, args.gammas)
    log_counts = None
    if args.gammas:
        log_counts = log_counts_for(model, args.class_counts, args.count_by)
    os.makedirs(args.out, exist_ok=True)
    for image in args.images:
        comparison = compare_strengths(
            model,
            image,
            strengths,
            score_thr=args.score_thr,
            log_counts=log_counts,
            class_name=args.class_name,
            max_changed=args.max_changed)
        stem = osp.splitext(osp.basename(image))[0]
        path = osp.join(args.out, f'{stem}_strengths.png')
        fig = draw_comparison(
            comparison, image, path, title=osp.basename(image))
        import matplotlib.pyplot as plt
        plt.close(fig)
        if args.json:
            with open(osp.join(args.out, f'{stem}_strengths.json'), 'w') as f:
                json.dump(
                    dict(
                        image=image,
                        strengths=[s.name for s in strengths],
                        score_thr=args.score_thr,
                        changed=[
                            dict(
                                box=c.box,
                                labels=[
                                    None
                                    if lab is None else comparison.classes[lab]
                                    for lab in c.labels
                                ],
                                scores=c.scores,
                                top=c.top) for c in comparison.changed
                        ]),
                    f,
                    indent=1)
        print(f'{image}: {len(comparison.changed)} box(es) change label '
              f'across {", ".join(s.name for s in strengths)} -> {path}')


if __name__ == '__main__':
    main()
