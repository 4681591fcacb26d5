# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The convergence of the study's curve models under several schedules, in
one figure and one table.

The study trains every model the same number of iterations; its curve
models (stock, causal at alpha 0) also test intermediate checkpoints of
their first seed. A probe reruns those two models with a longer schedule
(``run.py --models stock causal --seeds 0 --iters 3200 --out DIR``). This
script reads the run caches of all of them and sets their curves side by
side, so a reader sees whether the study's budget had stopped rising and
whether the causal model's lead at alpha 0 survives a longer schedule::

    python benchmarks/long_tail/convergence.py benchmarks/long_tail \\
        benchmarks/long_tail/probe_3200 benchmarks/long_tail/probe_6400 \\
        --out benchmarks/long_tail/study_convergence.png \\
        --md benchmarks/long_tail/study_convergence.md
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)

from study import CURVE_MODELS, RunCache, curve_points  # noqa: E402

#: the columns the table and figure show
SHOWN = ('bbox_AP', 'bbox_APr', 'segm_AP')
TITLE = "convergence of seed 0: the study's schedule and longer ones"


def load_curves(study_dirs: Sequence[str],
                seed: int = 0) -> Dict[int, Dict[str, List[dict]]]:
    """``{schedule iterations: {model: curve points}}`` from the run caches
    under ``study_dirs`` (each a ``run.py --out`` folder)."""
    schedules: Dict[int, Dict[str, List[dict]]] = {}
    for study_dir in study_dirs:
        cache = RunCache(osp.join(study_dir, 'runs'))
        for model in CURVE_MODELS:
            path = cache.path(model, seed)
            if not osp.exists(path):
                continue
            with open(path) as f:
                record = json.load(f)
            iters = record['inputs']['iters']
            if model in schedules.get(iters, {}):
                raise ValueError(
                    f'{model} seed {seed} at {iters} iterations is in two of '
                    f'{list(study_dirs)}: give each schedule once')
            schedules.setdefault(iters, {})[model] = curve_points(record)
    if not schedules:
        raise FileNotFoundError(
            f'no curve model ({", ".join(CURVE_MODELS)}) of seed {seed} in '
            f'the run caches of {list(study_dirs)}; run '
            'benchmarks/long_tail/run.py first')
    return dict(sorted(schedules.items()))


def value(point: dict, column: str) -> float:
    return 100 * point['metrics'][f'lvis/{column}']


def markdown(schedules: Dict[int, Dict[str, List[dict]]]) -> str:
    """One line per (schedule, model): val metrics at each tested
    checkpoint, then causal minus stock at each schedule's end."""
    lines = [
        '| schedule | model | metric | val at checkpoint (iteration: %) |',
        '|---|---|---|---|'
    ]
    for iters, curves in schedules.items():
        for model, points in curves.items():
            for column in SHOWN:
                cells = ', '.join(f'{p["iter"]}: {value(p, column):.1f}'
                                  for p in points)
                lines.append(f'| {iters} | {model} | {column} | {cells} |')
    head = ' | '.join(f'causal minus stock, {c}' for c in SHOWN)
    lines += ['', f'| schedule | {head} |', '|---|' + '---|' * len(SHOWN)]
    for iters, curves in schedules.items():
        if not all(m in curves for m in ('stock', 'causal')):
            continue
        diffs = [
            value(curves['causal'][-1], c) - value(curves['stock'][-1], c)
            for c in SHOWN
        ]
        cells = ' | '.join(f'{d:+.1f}' for d in diffs)
        lines.append(f'| {iters} | {cells} |')
    return '\n'.join(lines)


def schedule_name(key) -> str:
    """A schedule's name in tables and legends: its iterations, or the
    label it was given."""
    return f'{key} it.' if isinstance(key, int) else str(key)


def figure(schedules: Dict[object, Dict[str, List[dict]]],
           path: str,
           colours: Optional[Dict[str, object]] = None,
           title: str = TITLE,
           budgets: Optional[Dict[object, int]] = None) -> None:
    """Val bbox AP and APr against iterations: one colour per model (the
    curve models' by default), one line style per schedule (keyed by its
    iterations, or by a name whose iterations ``budgets`` gives), each
    schedule's learning-rate step marked."""
    from mmdet_causal.visualization.figures import pyplot, save_png
    plt = pyplot()
    colours = colours or {'stock': 'tab:blue', 'causal': 'tab:red'}
    labels = {'stock': 'stock (linear)', 'causal': 'causal, alpha 0'}
    styles = ['-o', '--s', ':^', '-.v']
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, column in zip(axes, ('bbox_AP', 'bbox_APr')):
        for k, (key, curves) in enumerate(schedules.items()):
            style = styles[k % len(styles)]
            for model, points in curves.items():
                ax.plot(
                    [p['iter'] for p in points],
                    [value(p, column) for p in points],
                    style,
                    color=colours.get(model),
                    ms=3,
                    label=f'{labels.get(model, model)}, {schedule_name(key)}')
            ax.axvline(
                round(0.75 * (budgets or {}).get(key, key)),
                color='grey',
                lw=0.8,
                ls=style[:-1] or '-',
                alpha=0.6)
        ax.set_xlabel('training iterations (grey: lr x0.1 of each schedule)')
        ax.set_ylabel(f'val {column.replace("_", " ")} (%)')
        ax.grid(alpha=0.3)
    lines = sum(len(curves) for curves in schedules.values())
    axes[0].legend(fontsize=7 if lines <= 6 else 6, ncol=1 + (lines > 6))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_png(fig, path, dpi=80)
    plt.close(fig)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        'study_dirs',
        nargs='+',
        help='run.py --out folders (their runs/ caches), one per schedule')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', required=True, help='the PNG to write')
    parser.add_argument(
        '--md', help='also write the table here (default: printed only)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    schedules = load_curves(args.study_dirs, args.seed)
    figure(schedules, args.out)
    table = markdown(schedules)
    if args.md:
        with open(args.md, 'w') as f:
            f.write(table + '\n')
    print(table)


if __name__ == '__main__':
    main()
