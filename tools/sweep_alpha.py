# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Evaluate a causal detector at many TDE alphas from one inference pass.

    python tools/sweep_alpha.py CONFIG CKPT --alphas 0 0.5 1 1.5 2 2.5
        [--eval bbox segm] [--out DIR] [--cfg-options ...]

Runs the network once over the test set (see
:class:`mmdet_causal.apis.AlphaSweeper`), evaluates every alpha with the
config's test evaluator, and writes to ``--out``: ``sweep.json``,
``sweep.md`` (AP, APr, APc, APf per iou type per alpha) and ``sweep.png``
(the curves, with the best alpha and the heads' rule-of-thumb alpha marked).
The detections of each alpha are those of ``tools/test.py --tde-alpha A``.
"""
import argparse
import copy
import json
import os
import os.path as osp
import time

import torch
from mmdet.apis import init_detector
from mmdet.utils import register_all_modules
from mmengine.config import Config, DictAction
from mmengine.evaluator import Evaluator
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

import mmdet_causal  # noqa: F401  (registers the causal modules)
from mmdet_causal.apis import AlphaSweeper
from mmdet_causal.utils import (collect_cos_stats, rule_of_thumb_alpha,
                                trust_local_checkpoints)

COLUMNS = ('AP', 'AP50', 'APr', 'APc', 'APf')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument(
        '--alphas', type=float, nargs='+', default=[0, 0.5, 1, 1.5, 2, 2.5])
    parser.add_argument('--eval', nargs='+', metavar='METRIC')
    parser.add_argument('--out', default='work_dirs/alpha_sweep')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def build_evaluators(cfg, alphas, dataset_meta):
    """One evaluator per alpha; LVIS ground truth is loaded once and shared
    (the evaluation only reads it)."""
    evaluators = {}
    first = None
    for alpha in alphas:
        metric_cfg = copy.deepcopy(cfg.test_evaluator)
        shared = first is not None and 'ann_file' in metric_cfg
        if shared:
            metric_cfg['ann_file'] = None
        evaluator = Evaluator(metric_cfg)
        evaluator.dataset_meta = dataset_meta
        if shared:
            for m, m0 in zip(evaluator.metrics, first.metrics):
                m._lvis_api = m0._lvis_api
        if first is None:
            first = evaluator
        evaluators[alpha] = evaluator
    return evaluators


def write_outputs(out_dir, results, thumb, cos_stats, meta):
    os.makedirs(out_dir, exist_ok=True)
    ious = sorted(
        {k.split('/')[1].split('_')[0]
         for r in results.values()
         for k in r})
    best = {
        iou: max(results, key=lambda a: results[a].get(f'lvis/{iou}_AP', -1))
        for iou in ious
    }
    with open(osp.join(out_dir, 'sweep.json'), 'w') as f:
        json.dump(
            dict(
                metrics={
                    str(a): r
                    for a, r in results.items()
                },
                best_alpha=best,
                rule_of_thumb_alpha=thumb,
                cos_stats=cos_stats,
                **meta),
            f,
            indent=1)
    head = '| alpha | ' + ' | '.join(f'{iou} {c}' for iou in ious
                                     for c in COLUMNS) + ' |'
    lines = [head, '|' + '---|' * (1 + len(ious) * len(COLUMNS))]
    for alpha, r in results.items():
        cells = ' | '.join(
            f'{100 * r.get(f"lvis/{iou}_{c}", float("nan")):.1f}'
            for iou in ious for c in COLUMNS)
        lines.append(f'| {alpha:g} | {cells} |')
    table = '\n'.join(lines)
    with open(osp.join(out_dir, 'sweep.md'), 'w') as f:
        f.write(table + '\n')
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        return table, best
    alphas = list(results)
    fig, axes = plt.subplots(
        1, len(ious), figsize=(6 * len(ious), 4), squeeze=False)
    for ax, iou in zip(axes[0], ious):
        for c in ('AP', 'APr', 'APc', 'APf'):
            ax.plot(
                alphas, [
                    100 * results[a].get(f'lvis/{iou}_{c}', float('nan'))
                    for a in alphas
                ],
                marker='o',
                label=c)
        ax.axvline(
            best[iou], color='k', ls='--', label=f'best AP: {best[iou]:g}')
        if thumb is not None:
            ax.axvline(
                thumb, color='r', ls=':', label=f'rule of thumb: {thumb:.2f}')
        ax.set_xlabel('alpha')
        ax.set_ylabel(f'{iou} (%)')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(osp.join(out_dir, 'sweep.png'), dpi=110)
    return table, best


def main():
    args = parse_args()
    trust_local_checkpoints()
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.eval:
        metric_cfgs = cfg.test_evaluator if isinstance(
            cfg.test_evaluator, list) else [cfg.test_evaluator]
        for m in metric_cfgs:
            m['metric'] = list(args.eval)
    alphas = sorted(set(args.alphas))
    start = time.perf_counter()
    model = init_detector(cfg, args.checkpoint, device=args.device)
    metric_cfgs = cfg.test_evaluator if isinstance(
        cfg.test_evaluator, list) else [cfg.test_evaluator]
    wants_segm = any('segm' in m.get('metric', []) for m in metric_cfgs)
    # masks (the mask head and pasting) only where segm is evaluated
    sweeper = AlphaSweeper(model, alphas, with_masks=wants_segm)
    for head in sweeper.heads:
        head.reset_cos_stats()
    loader = Runner.build_dataloader(cfg.test_dataloader)
    evaluators = build_evaluators(cfg, alphas, loader.dataset.metainfo)

    print(f'inference over {len(loader.dataset)} images, once, for '
          f'{len(alphas)} alphas')
    bar = ProgressBar(len(loader.dataset))
    for data in loader:
        per_alpha = sweeper.predict(data)
        for alpha, samples in per_alpha.items():
            evaluators[alpha].process(data_samples=samples, data_batch=data)
        for _ in range(len(data['inputs'])):
            bar.update()
    infer_s = time.perf_counter() - start

    print(f'\nevaluating {len(alphas)} alphas')
    bar = ProgressBar(len(alphas))
    results = {}
    for alpha in alphas:
        results[alpha] = evaluators[alpha].evaluate(len(loader.dataset))
        bar.update()
    cos_stats = collect_cos_stats(model)
    thumb = rule_of_thumb_alpha(cos_stats)
    total_s = time.perf_counter() - start
    table, best = write_outputs(
        args.out, results, thumb, cos_stats,
        dict(
            config=args.config,
            checkpoint=args.checkpoint,
            inference_s=infer_s,
            total_s=total_s))
    print('\n' + table)
    print(f'\nbest alpha by AP: {best}; rule-of-thumb alpha: '
          f'{thumb if thumb is None else round(thumb, 3)}; '
          f'{total_s:.1f} s in all; written to {args.out}')


if __name__ == '__main__':
    main()
