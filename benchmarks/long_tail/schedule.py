# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The schedule question: the study's ranking at two budgets side by side,
every model's seed-0 curve, and the slope of each curve's last quarter.

Reads the run records of two ``run.py --out`` folders (their ``runs/``),
aggregates each row over the seeds its model has there (a study still
running shows how many), and writes one table and one figure::

    python benchmarks/long_tail/schedule.py benchmarks/long_tail \\
        benchmarks/long_tail/study_6400 \\
        --md benchmarks/long_tail/study_schedule.md \\
        --json benchmarks/long_tail/study_schedule.json \\
        --png benchmarks/long_tail/study_schedule.png

and, with ``--labels``, two data sets' studies at one budget::

    python benchmarks/long_tail/schedule.py benchmarks/long_tail \
        benchmarks/long_tail/study_longtail2 --labels longtail longtail2 \
        --md benchmarks/long_tail/study_sets.md

A row's *rank* is one plus the number of rows ahead of it beyond twice the
spread, over the seeds both rows have: for two strengths of one trained
model the spread of their per-seed differences (paired by seed, as
``study.compare`` pairs them), otherwise the larger of the two standard
deviations. Rows the seeds cannot tell apart share a rank; with fewer than
two shared seeds nothing is ahead. A curve's *slope* over a quarter of the
budget is the change of val AP from the last tested checkpoint at or before
the quarter's start to its end, in AP points per 1000 iterations: the last
quarter starts where the learning rate drops by 10 (so it holds that drop),
the third is the last stretch at the full learning rate.
"""
import argparse
import glob
import json
import math
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)

import convergence  # noqa: E402
import study  # noqa: E402

#: what the ranking and the slopes are read from
COLUMN = 'bbox_AP'
SHOWN = ('bbox_AP', 'bbox_APr', 'segm_AP')


def load_records(study_dir: str) -> Tuple[int, Dict[Tuple[str, int], dict]]:
    """The budget and ``{(model, seed): record}`` of a study's run cache."""
    records, budgets = {}, set()
    for path in sorted(glob.glob(osp.join(study_dir, 'runs', '*.json'))):
        with open(path) as f:
            record = json.load(f)
        records[(record['model'], record['seed'])] = record
        budgets.add(record['inputs']['iters'])
    if len(budgets) != 1:
        raise ValueError(
            f'{study_dir}/runs holds {"no" if not budgets else "mixed"} '
            f'budgets {sorted(budgets)}: give one run.py --out folder per '
            'budget')
    return budgets.pop(), records


def load_studies(
    study_dirs: Sequence[str],
    labels: Optional[Sequence[str]] = None
) -> Dict[object, Tuple[str, int, dict]]:
    """``{key: (study_dir, budget, records)}`` of each ``run.py --out``
    folder: keyed by its label, in the order given, when ``labels`` name
    the studies (two sets at one budget), else by its budget, shortest
    first."""
    if labels is not None and (len(labels) != len(study_dirs)
                               or len(set(labels)) != len(labels)):
        raise ValueError('give one distinct label per study folder')
    out = {}
    for k, study_dir in enumerate(study_dirs):
        budget, records = load_records(study_dir)
        key = budget if labels is None else labels[k]
        if key in out:
            raise ValueError(
                f'two folders hold the {budget}-iteration study; name the '
                'studies with --labels to compare two sets at one budget')
        out[key] = (study_dir, budget, records)
    return out if labels is not None else dict(sorted(out.items()))


def table_at(records: Dict[Tuple[str, int], dict]) -> Dict[str, dict]:
    """``study.aggregate`` of every row whose model has a record, over the
    seeds it has (``seeds`` in each entry)."""
    table = {}
    for row in study.ROWS:
        seeds = sorted(s for (m, s) in records if m == row[1])
        if seeds:
            table[row[0]] = dict(
                study.aggregate(records, [row], seeds)[row[0]], seeds=seeds)
    return table


def ranks(table: Dict[str, dict], column: str = COLUMN) -> Dict[str, int]:
    """One plus the number of rows ahead beyond twice the spread (see the
    module's docstring)."""

    def per_seed(row: str) -> Dict[int, float]:
        entry = table[row]
        return dict(zip(entry['seeds'], entry['cells'][column]['seeds']))

    def ahead(a: str, b: str) -> bool:
        va, vb = per_seed(a), per_seed(b)
        shared = sorted(set(va) & set(vb))
        if len(shared) < 2:
            return False
        mean, spread = study.difference([va[s] for s in shared],
                                        [vb[s] for s in shared],
                                        table[a]['model'] == table[b]['model'])
        return mean > 2 * spread

    return {
        row: 1 + sum(ahead(other, row) for other in table if other != row)
        for row in table
    }


def quarter_slope(points: Sequence[dict],
                  budget: int,
                  quarter: int = 4,
                  column: str = COLUMN) -> Optional[float]:
    """AP points per 1000 iterations over quarter ``quarter`` (1-4) of
    ``budget``; None without a point at its end and one at or before its
    start."""
    start = [p for p in points if p['iter'] <= (quarter - 1) * budget / 4]
    end = [p for p in points if p['iter'] == quarter * budget / 4]
    if not start or not end:
        return None
    a, b = start[-1], end[0]
    rise = 100 * (
        b['metrics'][f'lvis/{column}'] - a['metrics'][f'lvis/{column}'])
    return 1000 * rise / (b['iter'] - a['iter'])


def curves(records: Dict[Tuple[str, int], dict],
           seed: int = 0) -> Dict[str, List[dict]]:
    """Each model's curve of ``seed`` (final checkpoint included), for the
    models that tested intermediate checkpoints."""
    return {
        model: study.curve_points(record)
        for (model, s), record in sorted(records.items())
        if s == seed and record.get('curve')
    }


def summarise(study_dirs: Sequence[str],
              labels: Optional[Sequence[str]] = None) -> dict:
    """Per study, keyed by its budget (by its label when ``labels`` name
    the studies: two sets at one budget): the table, the ranks and every
    curve's slope."""
    out = {}
    for key, (study_dir, budget, records) in load_studies(study_dirs,
                                                          labels).items():
        table = table_at(records)
        model_curves = curves(records)
        out[key] = dict(
            budget=budget,
            study_dir=study_dir,
            table=table,
            ranks=ranks(table),
            curves=model_curves,
            slopes={
                model: {
                    f'{c}, quarter {q}': quarter_slope(points, budget, q, c)
                    for c in SHOWN
                    for q in (3, 4)
                }
                for model, points in model_curves.items()
            })
    return out


def fmt(cell: dict) -> str:
    if math.isnan(cell['std']):
        return f'{cell["mean"]:.1f}'
    return f'{cell["mean"]:.1f} ± {cell["std"]:.1f}'


def markdown(summary: dict) -> str:
    budgets = list(summary)
    head = ' | '.join(
        f'{convergence.schedule_name(b)}: {COLUMN} (seeds) | rank'
        for b in budgets)
    lines = [f'| row | {head} |', '|---|' + '---|---|' * len(budgets)]
    for row, *_ in study.ROWS:
        cells = []
        for b in budgets:
            entry = summary[b]['table'].get(row)
            if entry is None:
                cells += ['not run yet', '']
                continue
            cells += [
                f'{fmt(entry["cells"][COLUMN])} ({len(entry["seeds"])})',
                str(summary[b]['ranks'][row])
            ]
        lines.append(f'| {row} | ' + ' | '.join(cells) + ' |')
    lines += [
        '', '| study | model (seed 0) | ' +
        ' | '.join(f'{c} at the end | slope, 3rd / last quarter'
                   for c in SHOWN) + ' |',
        '|---|---|' + '---|---|' * len(SHOWN)
    ]
    for b in budgets:
        for model, points in summary[b]['curves'].items():
            cells = []
            for c in SHOWN:
                slopes = [
                    summary[b]['slopes'][model][f'{c}, quarter {q}']
                    for q in (3, 4)
                ]
                cells += [
                    f'{100 * points[-1]["metrics"][f"lvis/{c}"]:.1f}',
                    ' / '.join('-' if v is None else f'{v:+.1f}'
                               for v in slopes)
                ]
            lines.append(f'| {convergence.schedule_name(b)} | {model} | ' +
                         ' | '.join(cells) + ' |')
    lines += ['', 'Slopes in AP points per 1000 iterations.']
    return '\n'.join(lines)


def finite(obj):
    """``obj`` with NaN as None, for strict JSON."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def figure(summary: dict, path: str) -> None:
    """Val bbox AP and APr of every curve against iterations, as the
    convergence figure draws them: one colour per model, one line style per
    budget."""
    import matplotlib.pyplot as plt
    colours = dict(zip(study.CURVE_STRENGTH, plt.get_cmap('tab10').colors))
    convergence.figure({
        key: entry['curves']
        for key, entry in summary.items()
    },
                       path,
                       colours=colours,
                       title='seed-0 curves of every model',
                       budgets={
                           key: entry['budget']
                           for key, entry in summary.items()
                       })


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('study_dirs', nargs='+', help='run.py --out folders')
    parser.add_argument('--md', help='write the tables here')
    parser.add_argument('--json', help='write the summary here')
    parser.add_argument('--png', help='write the curves here')
    parser.add_argument(
        '--labels',
        nargs='+',
        help='one name per folder, to compare studies at one budget (two '
        'data sets); default: each folder by its budget')
    args = parser.parse_args(argv)
    summary = summarise(args.study_dirs, args.labels)
    text = markdown(summary)
    if args.md:
        with open(args.md, 'w') as f:
            f.write(text + '\n')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(
                finite(summary), f, indent=1, sort_keys=True, allow_nan=False)
    if args.png:
        figure(summary, args.png)
    print(text)


if __name__ == '__main__':
    main()
