# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The long-tail effect, measured: stock HTC (linear classifier) against the
causal HTC on a synthetic long-tailed LVIS-format set, one schedule, one
seed; the causal model evaluated as de-confound (alpha 0), TDE at the
published alpha and TDE at the rule-of-thumb alpha.

    python benchmarks/long_tail/run.py --mode quick   # smoke check, < 5 min
    python benchmarks/long_tail/run.py --mode full    # the committed figures

Writes ``results_<mode>.json``, ``results_<mode>.md`` and
``long_tail_<mode>.png`` next to this file (``--out`` to change).
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from dataclasses import asdict, replace

from mmdet_causal.testing import PRESETS, generate_tiny_lvis
from mmdet_causal.testing.tiny_lvis import class_names

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(HERE))
COLUMNS = ('AP', 'AP50', 'APr', 'APc', 'APf')
MODES = {
    # quick: a smoke check of the whole pipeline, numbers meaningless
    'quick':
    dict(
        spec=replace(
            PRESETS['longtail'], train_images=60, val_images_per_class=1),
        epochs=1),
    'full':
    dict(spec=replace(PRESETS['longtail']), epochs=3),
}
CONFIG = """_base_ = '{base}'
num_classes = {num_classes}
classes = {classes!r}
data_root = '{data_root}/'
metainfo = dict(classes=classes)
model = dict(
    roi_head=dict(
        bbox_head=[
            dict(head, num_classes=num_classes)
            for head in _base_.model.roi_head.bbox_head
        ],
        mask_head=[
            dict(head, num_classes=num_classes)
            for head in _base_.model.roi_head.mask_head
        ]))
train_dataloader = dict(
    dataset=dict(data_root=data_root, metainfo=metainfo))
test_dataloader = dict(
    dataset=dict(data_root=data_root, metainfo=metainfo))
val_dataloader = test_dataloader
test_evaluator = dict(ann_file=data_root + 'annotations/lvis_v1_val.json')
val_evaluator = test_evaluator
max_epochs = {epochs}
train_cfg = dict(max_epochs=max_epochs, val_begin=max_epochs + 1)
default_hooks = dict(checkpoint=dict(interval=max_epochs))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[max(max_epochs - 1, 1)],
        gamma=0.1)
]
"""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mode', choices=sorted(MODES), default='quick')
    parser.add_argument('--work-dir', default='work_dirs/long_tail')
    parser.add_argument('--out', default=HERE)
    return parser.parse_args()


def run(cmd):
    print('$ ' + ' '.join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def write_config(path, base, spec, data_root, epochs):
    with open(path, 'w') as f:
        f.write(
            CONFIG.format(
                base=osp.join(ROOT, 'configs', 'tiny', base),
                num_classes=spec.num_classes,
                classes=tuple(class_names(spec)),
                data_root=data_root,
                epochs=epochs))


def train_and_test(name, config, work_dir, tests):
    """Train ``config``, then run tools/test.py once per entry of
    ``tests`` (label -> extra args); returns label -> metrics JSON."""
    wd = osp.join(work_dir, name)
    run([sys.executable, 'tools/train.py', config, '--work-dir', wd])
    with open(osp.join(ROOT, wd, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    out = {}
    for label, extra in tests:
        if callable(extra):
            extra = extra(out)
        metrics = osp.join(wd, f'metrics_{len(out)}.json')
        run([
            sys.executable, 'tools/test.py', config, ckpt, '--work-dir', wd,
            '--eval', 'bbox', 'segm', '--metrics-out', metrics
        ] + extra)
        with open(osp.join(ROOT, metrics)) as f:
            out[label] = json.load(f)
    return out


def rule_of_thumb(results):
    alpha = results['TDE (alpha 1.5)']['rule_of_thumb_alpha']
    return ['--tde-alpha', f'{alpha:.3f}']


def table(rows):
    head = '| model | ' + ' | '.join(f'{iou} {c}' for iou in ('bbox', 'segm')
                                     for c in COLUMNS) + ' |'
    lines = [head, '|' + '---|' * (1 + 2 * len(COLUMNS))]
    for name, metrics in rows.items():
        cells = ' | '.join(f'{100 * metrics[f"lvis/{iou}_{c}"]:.1f}'
                           for iou in ('bbox', 'segm') for c in COLUMNS)
        lines.append(f'| {name} | {cells} |')
    return '\n'.join(lines)


def plot(rows, path, title):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    width = 0.8 / len(rows)
    for ax, iou in zip(axes, ('bbox', 'segm')):
        x = np.arange(len(COLUMNS))
        for k, (name, metrics) in enumerate(rows.items()):
            ax.bar(
                x + k * width,
                [100 * metrics[f'lvis/{iou}_{c}'] for c in COLUMNS],
                width,
                label=name)
        ax.set_xticks(x + width * (len(rows) - 1) / 2, COLUMNS)
        ax.set_title(f'{iou} (LVIS metric)')
        ax.grid(axis='y', alpha=0.3)
    axes[0].set_ylabel('%')
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    args = parse_args()
    mode = MODES[args.mode]
    spec = mode['spec']
    start = time.time()
    data_root = osp.join(ROOT, 'data', f'long_tail_{args.mode}')
    generate_tiny_lvis(data_root, spec)
    work_dir = osp.join(args.work_dir, args.mode)
    os.makedirs(osp.join(ROOT, work_dir), exist_ok=True)
    configs = {}
    for name, base in (('stock', 'htc_r18_fpn_tiny-lvis.py'),
                       ('causal', 'htc-causal_r18_fpn_tiny-lvis.py')):
        configs[name] = osp.join(ROOT, work_dir, f'{name}.py')
        write_config(configs[name], base, spec, data_root, mode['epochs'])

    stock = train_and_test('stock', configs['stock'], work_dir,
                           [('stock HTC (linear)', [])])
    causal = train_and_test('causal', configs['causal'], work_dir,
                            [('TDE (alpha 1.5)', []),
                             ('de-confound (alpha 0)', ['--tde-alpha', '0']),
                             ('TDE (rule of thumb)', rule_of_thumb)])
    rows = {k: v['metrics'] for k, v in {**stock, **causal}.items()}
    order = [
        'stock HTC (linear)', 'de-confound (alpha 0)', 'TDE (alpha 1.5)',
        'TDE (rule of thumb)'
    ]
    rows = {k: rows[k] for k in order}
    thumb = causal['TDE (rule of thumb)']['cos_stats']
    elapsed = time.time() - start
    with open(
            osp.join(ROOT, 'data', f'long_tail_{args.mode}', 'annotations',
                     'lvis_v1_train.json')) as f:
        cats = json.load(f)['categories']
    groups = {g: sum(c['frequency'] == g for c in cats) for g in 'rcf'}
    counts = sorted(c['instance_count'] for c in cats)
    summary = dict(
        mode=args.mode,
        seconds=elapsed,
        epochs=mode['epochs'],
        spec=asdict(spec),
        groups=groups,
        train_instances_min_max=[counts[0], counts[-1]],
        rule_of_thumb_cos=thumb,
        metrics=rows)
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, f'results_{args.mode}.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    md = table(rows)
    with open(osp.join(args.out, f'results_{args.mode}.md'), 'w') as f:
        f.write(md + '\n')
    plot(
        rows, osp.join(args.out, f'long_tail_{args.mode}.png'),
        f'synthetic long-tailed LVIS ({spec.num_classes} classes, r/c/f '
        f'{groups["r"]}/{groups["c"]}/{groups["f"]}), {mode["epochs"]} '
        f'epochs, CPU')
    print(md)
    print(f'\n{args.mode} mode: {elapsed / 60:.1f} min; classes r/c/f '
          f'{groups}; train instances per class {counts[0]}..{counts[-1]}')


if __name__ == '__main__':
    main()
