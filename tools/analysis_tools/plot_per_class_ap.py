# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Per-class AP against training instances (log scale), one series per
metrics file, LVIS's rare/common/frequent classes shaded.

    python tools/analysis_tools/plot_per_class_ap.py \\
        data/lvis_v1/annotations/lvis_v1_train.json \\
        work_dirs/stock/metrics.json \\
        work_dirs/causal/sweep/sweep.json@alpha=0 \\
        work_dirs/causal/sweep/sweep.json --labels stock "alpha 0" \\
        "held-out alpha" --out per_class_ap.png

A metrics file is ``tools/test.py --metrics-out`` output, a sweep report
(``sweep.json``, its selected strength unless ``@STRENGTH`` names one) or
a flat dict; it must hold per-class AP, as ``FastLVISMetric(classwise=
True)`` reports it (``tools/test.py ... --cfg-options
test_evaluator.classwise=True``).
"""
import argparse
import json

from mmdet_causal.visualization import (per_class_ap, plot_per_class_ap,
                                        read_metrics, train_class_stats)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 1)[1])
    parser.add_argument(
        'train_ann',
        help='the training annotations (LVIS format): instances and '
        'frequency group of each class')
    parser.add_argument(
        'metrics',
        nargs='+',
        help='metrics JSON files, FILE or FILE@STRENGTH, one series each')
    parser.add_argument('--labels', nargs='+', help='one per metrics file')
    parser.add_argument('--iou', choices=('bbox', 'segm'), default='bbox')
    parser.add_argument('--title')
    parser.add_argument(
        '--out', default='per_class_ap.png', help='the PNG to write')
    parser.add_argument(
        '--points-out',
        help='also write the plotted points (label -> class -> '
        '[instances, AP]) as JSON')
    args = parser.parse_args(argv)
    if args.labels and len(args.labels) != len(args.metrics):
        parser.error(f'{len(args.labels)} labels for {len(args.metrics)} '
                     'metrics files')
    return args


def main(argv=None):
    args = parse_args(argv)
    counts, groups = train_class_stats(args.train_ann)
    names = list(counts)
    series = {}
    for k, spec in enumerate(args.metrics):
        metrics, label = read_metrics(spec)
        label = args.labels[k] if args.labels else label
        series[label] = per_class_ap(metrics, names, args.iou)
    plot_per_class_ap(
        series,
        counts,
        groups,
        args.out,
        title=args.title or f'{args.iou} AP per class')
    if args.points_out:
        with open(args.points_out, 'w') as f:
            json.dump(
                {
                    label: {
                        n: [counts[n], ap]
                        for n, ap in aps.items()
                    }
                    for label, aps in series.items()
                },
                f,
                indent=1)
    print(f'per-class {args.iou} AP of {len(series)} series, '
          f'{len(names)} classes -> {args.out}')


if __name__ == '__main__':
    main()
