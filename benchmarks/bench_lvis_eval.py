# Copyright (c) mmdet-causal contributors. All rights reserved.
"""LVIS evaluation speed and memory, per backend, end to end through the
metric (ground-truth loading, ``process``, ``evaluate``).

Generates an LVIS-scale synthetic set (default: bbox on 2000 images x 1203
classes x 300 detections; segm on 500 images), then runs mmdet's own
``LVISMetric`` (official API + our numpy fix) and ``FastLVISMetric`` with
each backend, each in a fresh process (so one's peak memory cannot hide
another's), and prints wall time, peak memory above the loaded inputs, and
the speed-up over the official API. AP of every backend is printed too.

    python benchmarks/bench_lvis_eval.py [--images 2000] [--segm-images 500]
        [--classes 1203] [--dets 300] [--json OUT]
"""
import argparse
import json
import os
import os.path as osp
import pickle
import resource
import subprocess
import sys
import tempfile
import time

RUNS = (('LVISMetric (official API)', 'LVISMetric',
         None), ('FastLVISMetric official', 'FastLVISMetric', 'official'),
        ('FastLVISMetric hotcoco', 'FastLVISMetric', 'hotcoco'))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=2000)
    parser.add_argument('--segm-images', type=int, default=500)
    parser.add_argument('--classes', type=int, default=1203)
    parser.add_argument('--dets', type=int, default=300)
    parser.add_argument('--json', help='also write the figures here')
    parser.add_argument('--worker', nargs=4, help=argparse.SUPPRESS)
    return parser.parse_args()


def rss_mib() -> float:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def make_inputs(tmp, iou, num_images, args):
    """Ground truth (JSON) and data samples (pickle) for one iou type."""
    import numpy as np
    import torch

    from mmdet_causal.testing import make_lvis_gt, make_predictions
    with_masks = iou == 'segm'
    gt = make_lvis_gt(
        num_images=num_images,
        num_classes=args.classes,
        max_objects=12,
        image_size=128 if with_masks else 512,
        with_masks=with_masks,
        seed=0)
    preds = make_predictions(
        gt, dets_per_image=args.dets, with_masks=False, seed=1)
    samples = []
    for p in preds:
        pred = dict(
            bboxes=torch.from_numpy(p['bboxes']),
            scores=torch.from_numpy(p['scores']),
            labels=torch.from_numpy(p['labels']))
        if with_masks:
            # boxes as masks: cheap to build, and real RLE work to evaluate
            h = w = 128
            masks = np.zeros((len(p['bboxes']), h, w), bool)
            for k, (x1, y1, x2, y2) in enumerate(p['bboxes'].astype(int)):
                masks[k, y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)] = True
            pred['masks'] = torch.from_numpy(masks)
        samples.append(
            dict(
                img_id=p['img_id'],
                ori_shape=(gt['images'][0]['height'],
                           gt['images'][0]['width']),
                pred_instances=pred))
    ann_file = osp.join(tmp, f'{iou}_gt.json')
    with open(ann_file, 'w') as f:
        json.dump(gt, f)
    sample_file = osp.join(tmp, f'{iou}_samples.pkl')
    with open(sample_file, 'wb') as f:
        pickle.dump(samples, f)
    return ann_file, sample_file


def worker(metric_type, backend, iou, ann_file, sample_file):
    """One timed, end-to-end evaluation; prints a JSON line."""
    from mmdet.registry import METRICS
    from mmdet.utils import register_all_modules

    from mmdet_causal.evaluation import patch_lvis_numpy
    register_all_modules()
    if metric_type == 'LVISMetric':
        patch_lvis_numpy()  # mmdet's own metric crashes on numpy >= 1.24
    with open(sample_file, 'rb') as f:
        samples = pickle.load(f)
    base = rss_mib()
    t0 = time.perf_counter()
    cfg = dict(type=metric_type, ann_file=ann_file, metric=iou)
    if backend != 'none':
        cfg['backend'] = backend
    metric = METRICS.build(cfg)  # loads the ground truth
    metric.dataset_meta = dict(classes=[])
    t1 = time.perf_counter()
    for i in range(0, len(samples), 8):
        metric.process({}, samples[i:i + 8])
    t2 = time.perf_counter()
    results = metric.evaluate(len(samples))
    t3 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            dict(
                seconds=t3 - t0,
                load_s=t1 - t0,
                process_s=t2 - t1,
                evaluate_s=t3 - t2,
                peak_mib=peak - base,
                ap=results.get(f'lvis/{iou}_AP'))))


def main():
    args = parse_args()
    if args.worker:
        metric_type, backend, iou, files = args.worker
        ann_file, sample_file = files.split(',')
        worker(metric_type, backend, iou, ann_file, sample_file)
        return
    table = {}
    with tempfile.TemporaryDirectory() as tmp:
        for iou, num_images in (('bbox', args.images), ('segm',
                                                        args.segm_images)):
            print(
                f'generating {iou}: {num_images} images x {args.classes} '
                f'classes x {args.dets} detections ...',
                flush=True)
            files = ','.join(make_inputs(tmp, iou, num_images, args))
            table[iou] = {}
            for name, metric_type, backend in RUNS:
                out = subprocess.run([
                    sys.executable, __file__, '--worker', metric_type, backend
                    or 'none', iou, files
                ],
                                     capture_output=True,
                                     text=True,
                                     env=dict(
                                         os.environ, PYTHONWARNINGS='ignore'))
                if out.returncode != 0:
                    print(out.stderr[-3000:])
                    raise RuntimeError(f'{name} failed on {iou}')
                table[iou][name] = json.loads(
                    out.stdout.strip().split('\n')[-1])
                r = table[iou][name]
                print(
                    f'  {name:<28} {r["seconds"]:8.2f} s (load '
                    f'{r["load_s"]:.2f}, process {r["process_s"]:.2f}, '
                    f'evaluate {r["evaluate_s"]:.2f}) {r["peak_mib"]:8.0f} '
                    f'MiB  AP {r["ap"]}',
                    flush=True)
    ref_name = RUNS[0][0]
    # process() (mmdet's mask RLE encoding, the same for every backend)
    # runs batch by batch during inference; the speed-up that a user waits
    # for at the end of a test is load + evaluate, shown beside the total
    print(f'\n{"":<6}{"evaluator":<28}{"load+eval s":>12}{"speed-up":>9}'
          f'{"total s":>9}{"speed-up":>9}{"peak MiB":>10}{"AP":>7}')
    for iou, rows in table.items():
        ref = rows[ref_name]
        ref_eval = ref['load_s'] + ref['evaluate_s']
        for name, r in rows.items():
            ev = r['load_s'] + r['evaluate_s']
            r['speedup_load_eval'] = ref_eval / ev
            r['speedup_total'] = ref['seconds'] / r['seconds']
            print(f'{iou:<6}{name:<28}{ev:>12.2f}'
                  f'{r["speedup_load_eval"]:>8.1f}x{r["seconds"]:>9.2f}'
                  f'{r["speedup_total"]:>8.1f}x{r["peak_mib"]:>10.0f}'
                  f'{r["ap"]:>7.3f}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(
                dict(
                    images=args.images,
                    segm_images=args.segm_images,
                    classes=args.classes,
                    dets=args.dets,
                    results=table),
                f,
                indent=1)


if __name__ == '__main__':
    main()
