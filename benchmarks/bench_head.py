# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Cost of the causal box head against mmdet's stock head, side by side.

Times ``Shared4Conv1FCBBoxHead`` and ``CausalShared4Conv1FCBBoxHead`` at LVIS
shapes in one process, interleaved (stock, causal, stock, ...) so drift of
the machine hits both alike, and prints medians and ratios:

* training: forward + loss + backward on 512 RoIs (with labels);
* eval: forward on 1000 RoIs (TDE on, background-exempted).

    python benchmarks/bench_head.py [--device cuda] [--repeats 7]
"""
import argparse
import json
import statistics
import time

import torch
from mmdet.models.roi_heads.bbox_heads import Shared4Conv1FCBBoxHead

import mmdet_causal  # noqa: F401
from mmdet_causal import CausalShared4Conv1FCBBoxHead

NUM_CLASSES = 1203


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--train-rois', type=int, default=512)
    parser.add_argument('--eval-rois', type=int, default=1000)
    parser.add_argument('--json', help='also write the figures here')
    return parser.parse_args()


def sync(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def train_step(head, feats, targets):
    labels = targets[0]
    if isinstance(head, CausalShared4Conv1FCBBoxHead):
        cls_score, bbox_pred = head(feats, labels=labels)
    else:
        cls_score, bbox_pred = head(feats)
    losses = head.loss(cls_score, bbox_pred, None, *targets)
    sum(losses[k] for k in ('loss_cls', 'loss_bbox')).backward()


def eval_step(head, feats):
    with torch.no_grad():
        head(feats)


def timed(fn, device):
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def main():
    args = parse_args()
    dev = args.device
    torch.manual_seed(0)
    heads = {}
    for name, cls in (('stock', Shared4Conv1FCBBoxHead),
                      ('causal', CausalShared4Conv1FCBBoxHead)):
        torch.manual_seed(0)
        head = cls(
            in_channels=256, fc_out_channels=1024,
            num_classes=NUM_CLASSES).to(dev)
        head.init_weights()
        heads[name] = head
    heads['causal'].causal_embed.normal_()

    n = args.train_rois
    feats_train = torch.randn(n, 256, 7, 7, device=dev)
    labels = torch.randint(0, NUM_CLASSES + 1, (n, ), device=dev)
    labels[:n * 3 // 4] = NUM_CLASSES  # 1:3 positive:negative, as sampled
    targets = (labels, torch.ones(n,
                                  device=dev), torch.randn(n, 4, device=dev),
               torch.ones(n, 4, device=dev))
    feats_eval = torch.randn(args.eval_rois, 256, 7, 7, device=dev)

    times = {f'{m}_{k}': [] for m in ('train', 'eval') for k in heads}
    for it in range(args.warmup + args.repeats):
        for name, head in heads.items():
            head.train()
            t_train = timed(lambda: train_step(head, feats_train, targets),
                            dev)
            head.zero_grad(set_to_none=True)
            head.eval()
            t_eval = timed(lambda: eval_step(head, feats_eval), dev)
            if it >= args.warmup:
                times[f'train_{name}'].append(t_train)
                times[f'eval_{name}'].append(t_eval)
    med = {k: statistics.median(v) for k, v in times.items()}
    device_name = (
        torch.cuda.get_device_name(dev) if dev.startswith('cuda') else
        f'CPU ({torch.get_num_threads()} threads)')
    print(f'device: {device_name}; torch {torch.__version__}; '
          f'{args.repeats} interleaved repeats, medians')
    print(f'{"":<36}{"stock (ms)":>12}{"causal (ms)":>13}{"ratio":>8}')
    result = dict(device=device_name, repeats=args.repeats)
    for mode, rois in (('train', args.train_rois), ('eval', args.eval_rois)):
        stock, causal = med[f'{mode}_stock'], med[f'{mode}_causal']
        label = (f'training fwd+bwd, {rois} RoIs'
                 if mode == 'train' else f'eval forward (TDE), {rois} RoIs')
        print(f'{label:<36}{1e3 * stock:>12.1f}{1e3 * causal:>13.1f}'
              f'{causal / stock:>8.3f}')
        result[mode] = dict(
            rois=rois,
            stock_ms=1e3 * stock,
            causal_ms=1e3 * causal,
            ratio=causal / stock)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
