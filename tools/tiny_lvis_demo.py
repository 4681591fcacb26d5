# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The main job on the built-in tiny LVIS, end to end, on any machine.

1. writes the tiny LVIS (deterministic, seeded) under data/tiny_lvis: train,
   a held-out split carved from train, and val;
2. trains the tiny causal HTC with tools/train.py;
3. tests it with tools/test.py --eval bbox segm: one pass over six TDE
   alphas and one over five NorCal gammas (on the plain de-confounded model,
   alpha 0), each strength chosen on the held-out split (--select-on) and
   reported on val; and TDE at the rule-of-thumb alpha the heads report;
4. prints AP, AP50, APr, APc, APf per iou type for: the plain de-confounded
   model, TDE at the published alpha 1.5, at the rule of thumb, at the
   alpha chosen on the held-out split, and NorCal at the gamma chosen there;
5. compares the table with the committed expected one (the README's,
   ``benchmarks/results/tiny_demo/expected.json``) and says plainly whether
   this machine printed the same numbers, and if not, what differs in the
   environment and data that could explain it.

    python tools/tiny_lvis_demo.py [--work-dir work_dirs/tiny_demo]
        [--epochs N] [--config CONFIG] [--update-expected]
"""
import argparse
import glob
import hashlib
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

CONFIG = 'configs/tiny/htc-causal_r18_fpn_tiny-lvis.py'
ALPHAS = ('0', '0.5', '1', '1.5', '2', '2.5')
GAMMAS = ('0', '0.25', '0.5', '0.75', '1')
SELECT_METRIC = 'bbox_AP'
COLUMNS = ('AP', 'AP50', 'APr', 'APc', 'APf')
EXPECTED = osp.join(ROOT, 'benchmarks', 'results', 'tiny_demo',
                    'expected.json')
# the table prints one decimal of a percentage
TOLERANCE = 0.0005


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--work-dir', default='work_dirs/tiny_demo')
    parser.add_argument('--data-root', default='data/tiny_lvis')
    parser.add_argument(
        '--epochs', type=int, help='override the config\'s max_epochs')
    parser.add_argument(
        '--skip-train',
        action='store_true',
        help='reuse the checkpoint in --work-dir')
    parser.add_argument(
        '--update-expected',
        action='store_true',
        help='write this run as the expected table (benchmarks/results/'
        'tiny_demo/expected.json) after a deliberate change; then update the '
        'README from it')
    return parser.parse_args()


def environment(data_root: str) -> dict:
    """What the demo's numbers depend on besides the code."""
    import mmcv
    import mmdet
    import mmengine
    import numpy
    import PIL
    import torch

    from mmdet_causal.testing.tiny_lvis import GENERATOR_VERSION
    from mmdet_causal.utils.machine import cpu_name
    digest = hashlib.sha256()
    files = sorted(
        glob.glob(osp.join(ROOT, data_root, 'annotations', '*.json')) +
        glob.glob(osp.join(ROOT, data_root, '**', '*.png'), recursive=True))
    for path in files:
        with open(path, 'rb') as f:
            digest.update(f.read())
    try:
        commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                                cwd=ROOT,
                                capture_output=True,
                                text=True).stdout.strip() or None
    except OSError:
        commit = None
    return dict(
        data_sha256=digest.hexdigest(),
        data_files=len(files),
        generator_version=GENERATOR_VERSION,
        torch=torch.__version__,
        torch_threads=torch.get_num_threads(),
        mmcv=mmcv.__version__,
        mmdet=mmdet.__version__,
        mmengine=mmengine.__version__,
        numpy=numpy.__version__,
        pillow=PIL.__version__,
        python=platform.python_version(),
        machine=platform.machine(),
        cpu=cpu_name(),
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        commit=commit)


def compare_with_expected(rows, thumb_alpha, env) -> bool:
    """Print whether this run reproduced the committed table, and the
    likely causes when it did not. Returns True when it did."""
    if not osp.exists(EXPECTED):
        print(f'\nno expected table at {osp.relpath(EXPECTED, ROOT)}')
        return False
    with open(EXPECTED) as f:
        expected = json.load(f)
    got = dict(rows)
    diffs = []
    for name, metrics in expected['rows']:
        for key, value in metrics.items():
            if key not in got.get(name, {}):
                diffs.append(f'{name}: {key} missing')
            elif abs(got[name][key] - value) > TOLERANCE:
                diffs.append(f'{name}: {key} {100 * got[name][key]:.1f} '
                             f'(expected {100 * value:.1f})')
    if (thumb_alpha is None) != (expected['rule_of_thumb_alpha'] is None) \
            or (thumb_alpha is not None
                and abs(thumb_alpha - expected['rule_of_thumb_alpha']) > 5e-3):
        diffs.append(f'rule-of-thumb alpha {thumb_alpha} (expected '
                     f'{expected["rule_of_thumb_alpha"]})')
    if not diffs:
        print('\nThe table equals the committed expected one (the README\'s).')
        return True
    print('\nThis table DIFFERS from the committed expected one (the '
          f'README\'s, {osp.relpath(EXPECTED, ROOT)}):')
    for line in diffs[:12]:
        print('  ' + line)
    if len(diffs) > 12:
        print(f'  ... and {len(diffs) - 12} more')
    changed = {
        k: (v, env.get(k))
        for k, v in expected['environment'].items()
        if k != 'commit' and env.get(k) != v
    }
    print('Likely causes, in the order to check them:')
    if 'data_sha256' in changed or 'generator_version' in changed:
        print('  - the generated data differ from those of the expected run '
              '(generator version, or images rendered by another Pillow); '
              'regenerate with tools/misc/make_tiny_lvis.py --force')
    for key in ('torch', 'torch_threads', 'mmcv', 'mmdet', 'mmengine', 'numpy',
                'pillow', 'python', 'machine', 'cpu', 'cpu_capability'):
        if key in changed:
            was, now = changed[key]
            print(f'  - {key}: {now} here, {was} in the expected run')
    print('  - with the same code, data and versions, another processor '
          '(other vector kernels, other rounding) can move a 4-epoch run '
          'from scratch on this toy set by a few points: the runs are '
          'deterministic on one machine, not across machines')
    print(f'  - the code: the expected run was made at commit '
          f'{expected["environment"].get("commit")}, this one at '
          f'{env.get("commit")}; a change that moves the numbers must '
          'update the expected table and the README (--update-expected)')
    return False


def run(cmd) -> None:
    print('$ ' + ' '.join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def format_table(rows) -> str:
    header = f'{"":<26}' + ''.join(f'{iou + " " + col:>11}'
                                   for iou in ('bbox', 'segm')
                                   for col in COLUMNS)
    lines = [header, '-' * len(header)]
    for name, metrics in rows:
        cells = ''.join(
            f'{100 * metrics.get(f"lvis/{iou}_{col}", float("nan")):>11.1f}'
            for iou in ('bbox', 'segm') for col in COLUMNS)
        lines.append(f'{name:<26}{cells}')
    return '\n'.join(lines)


def main():
    args = parse_args()
    start = time.time()
    py = sys.executable
    run([py, 'tools/misc/make_tiny_lvis.py', '--out', args.data_root])
    # the runner builds the val evaluator (it loads ann_file) even though
    # the tiny config does not validate during training
    options = [
        f'train_dataloader.dataset.data_root={args.data_root}/',
        f'val_dataloader.dataset.data_root={args.data_root}/',
        f'val_evaluator.ann_file={args.data_root}/annotations/'
        'lvis_v1_val.json'
    ]
    if args.epochs:
        options += [
            f'train_cfg.max_epochs={args.epochs}',
            f'default_hooks.checkpoint.interval={args.epochs}'
        ]
    if not args.skip_train:
        run([
            py, 'tools/train.py', args.config, '--work-dir', args.work_dir,
            '--cfg-options'
        ] + options)
    with open(osp.join(ROOT, args.work_dir, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    test_options = [
        f'test_dataloader.dataset.data_root={args.data_root}/',
        f'test_evaluator.ann_file={args.data_root}/annotations/'
        'lvis_v1_val.json'
    ]

    heldout = f'{args.data_root}/annotations/lvis_v1_heldout.json'

    def evaluate(name, extra):
        out = osp.join(args.work_dir, name)
        run([
            py, 'tools/test.py', args.config, ckpt, '--work-dir', out,
            '--eval', 'bbox', 'segm', '--metrics-out',
            osp.join(out, 'metrics.json'), '--sweep-out', out, '--cfg-options'
        ] + test_options + extra)
        name = 'sweep.json' if '--select-on' in extra else 'metrics.json'
        with open(osp.join(ROOT, out, name)) as f:
            return json.load(f)

    select = ['--select-on', heldout, '--select-metric', SELECT_METRIC]
    tde = evaluate('sweep_tde', ['--tde-alphas', *ALPHAS] + select)
    norcal = evaluate('sweep_norcal',
                      ['--tde-alphas', '0', '--norcal-gammas', *GAMMAS] +
                      select)
    alpha = tde['rule_of_thumb_alpha']
    chosen_alpha = tde['selected']['strength']['alpha']
    chosen_gamma = norcal['selected']['strength']['gamma']
    rows = [('de-confound (alpha 0)', tde['test']['alpha=0']),
            ('TDE (alpha 1.5)', tde['test']['alpha=1.5'])]
    if alpha is not None:
        thumb = evaluate('thumb', ['--tde-alpha', f'{alpha:.3f}'])
        rows.append((f'TDE (rule of thumb {alpha:.2f})', thumb['metrics']))
    rows += [(f'TDE (held-out alpha {chosen_alpha:g})',
              tde['selected']['test_metrics']),
             (f'NorCal (held-out gamma {chosen_gamma:g})',
              norcal['selected']['test_metrics'])]
    for name, sweep in (('TDE alpha', tde), ('NorCal gamma', norcal)):
        key = sweep['selected']['select_metric']
        print(f'\n{name} on the held-out split ({key}, %): ' +
              ', '.join(f'{n} {100 * m[key]:.1f}'
                        for n, m in sweep['select'].items()))
    table = format_table(rows)
    summary = osp.join(ROOT, args.work_dir, 'summary.txt')
    with open(summary, 'w') as f:
        f.write(table + '\n')
    print('\nTiny LVIS val, causal HTC (LVIS metric, %; strengths chosen '
          'on the held-out split):')
    print(table)
    env = environment(args.data_root)
    from mmdet_causal.engine.runner.strength_selection import metric_parts
    record = dict(
        rows=[(name, {
            k: v
            for k, v in metrics.items() if metric_parts(k)[1] in COLUMNS
        }) for name, metrics in rows],
        rule_of_thumb_alpha=alpha,
        selected=dict(
            alpha=chosen_alpha, gamma=chosen_gamma, metric=SELECT_METRIC),
        environment=env)
    with open(osp.join(ROOT, args.work_dir, 'summary.json'), 'w') as f:
        json.dump(record, f, indent=1)
    if args.update_expected:
        os.makedirs(osp.dirname(EXPECTED), exist_ok=True)
        with open(EXPECTED, 'w') as f:
            json.dump(record, f, indent=1)
        print(f'\nwrote {osp.relpath(EXPECTED, ROOT)}')
    else:
        compare_with_expected(rows, alpha, env)
    print(f'\ntotal {time.time() - start:.0f} s; table saved to '
          f'{osp.relpath(summary, ROOT)}')


if __name__ == '__main__':
    os.environ.setdefault('PYTHONUNBUFFERED', '1')
    main()
