# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Selection rules for the test-time strength, compared on the study's run
records (never chosen on val): the regret of each rule, val AP at val's
best strength minus val AP at the strength the rule picks, per model and
seed, bbox and segm.

Rules (each reads only what the records already hold):

* ``heldout AP``: today's rule, the best held-out bbox AP;
* ``heldout group mean``: the best held-out mean of bbox APr, APc and APf
  (each frequency group weighed equally; a group absent from the held-out
  split, -1, is left out of the mean);
* ``fixed``: a strength fixed before looking at any data: TDE's published
  alpha 1.5; for NorCal gamma 1 (scores divided by the class count itself,
  the plain inverse-frequency form);
* ``rule of thumb`` (TDE only): the grid alpha nearest the heads' cos
  statistics' suggestion, recorded with each run.

    python benchmarks/long_tail/selection_rules.py benchmarks/long_tail \\
        --out benchmarks/long_tail/selection_rules

writes ``selection_rules.json`` and ``.md`` (mean ± sample standard
deviation over seeds; and each rule against today's, paired by seed), with
the rule the defaults follow by the table (:func:`verdict`).
"""
import argparse
import json
import math
import os.path as osp
import statistics
import sys
from typing import Dict, List, Optional

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)
import study  # noqa: E402

#: the swept models, the knob each sweep turns
SWEPT = {
    name: {
        'tde': 'alpha',
        'norcal': 'gamma'
    }[model.sweep]
    for name, model in study.MODELS.items() if model.sweep
}
LABELS = {
    'stock': 'stock + NorCal',
    'causal': 'causal, TDE',
    'causal_rfs': 'causal + RFS, TDE'
}
FIXED = {'alpha': 1.5, 'gamma': 1.0}
TODAY = 'heldout AP'
GROUPS = ('APr', 'APc', 'APf')


def _value(name: str) -> float:
    return float(name.split('=')[1])


def _group_mean(metrics: dict) -> float:
    groups = [metrics[f'lvis/bbox_{g}'] for g in GROUPS]
    groups = [g for g in groups if g >= 0]
    return sum(groups) / len(groups) if groups else -1.0


def _best(scores: Dict[str, float]) -> Optional[str]:
    """The strength with the highest defined score; ties to the first in
    grid order (as the sweep's own pick)."""
    defined = [s for s, v in scores.items() if math.isfinite(v) and v >= 0]
    return max(defined, key=lambda s: scores[s]) if defined else None


def picks(record: dict, knob: str) -> Dict[str, str]:
    """The strength each rule picks for one run record."""
    grid = list(record['heldout'])
    heldout = record['heldout']
    out = {
        TODAY: _best({s: heldout[s]['lvis/bbox_AP']
                      for s in grid}),
        'heldout group mean': _best({s: _group_mean(heldout[s])
                                     for s in grid}),
        'fixed': min(grid, key=lambda s: abs(_value(s) - FIXED[knob])),
    }
    thumb = record.get('rule_of_thumb_alpha')
    if knob == 'alpha' and thumb is not None:
        out['rule of thumb'] = min(grid, key=lambda s: abs(_value(s) - thumb))
    return out


def regrets(record: dict, knob: str) -> Dict[str, Dict[str, float]]:
    """Per rule and iou type, val's best AP minus val's AP at the pick (AP
    points)."""
    val = record['val']
    grid = list(record['heldout'])
    out = {}
    for rule, pick in picks(record, knob).items():
        out[rule] = {}
        for iou in study.IOU_TYPES:
            key = f'lvis/{iou}_AP'
            best = max(val[s][key] for s in grid)
            out[rule][iou] = 100 * (best - val[pick][key])
    return out


def _spread(values: List[float]) -> dict:
    return dict(
        mean=statistics.fmean(values),
        std=statistics.stdev(values) if len(values) > 1 else float('nan'),
        seeds=values)


def compare(records: Dict[tuple, dict], seeds) -> dict:
    """``{model: {rule: {iou: regret cell, iou + ' vs today': paired
    difference cell}}}`` (a negative difference: the rule leaves less on
    the table than today's)."""
    table = {}
    for model, knob in SWEPT.items():
        per_seed = [regrets(records[(model, s)], knob) for s in seeds]
        table[model] = {}
        for rule in per_seed[0]:
            cells = {}
            for iou in study.IOU_TYPES:
                values = [r[rule][iou] for r in per_seed]
                cells[iou] = _spread(values)
                diffs = [r[rule][iou] - r[TODAY][iou] for r in per_seed]
                cell = _spread(diffs)
                cell['beats_today'] = bool(
                    cell['mean'] < 0
                    and (len(diffs) > 1 and -cell['mean'] > 2 * cell['std']))
                cells[f'{iou} vs today'] = cell
            table[model][rule] = cells
    return table


def _beats_today(cells: Optional[dict]) -> bool:
    """A rule's cells beat today's for boxes and for masks."""
    return cells is not None and all(cells[f'{iou} vs today']['beats_today']
                                     for iou in study.IOU_TYPES)


def verdict(table: dict) -> str:
    """The rule the defaults follow by this table: one that beats today's
    on every model, for boxes and for masks (beyond twice the spread,
    paired by seed), else today's. A rule that some model lacks (the rule
    of thumb, TDE's only) cannot be every model's default."""
    for rule in next(iter(table.values())):
        if rule != TODAY and all(
                _beats_today(rules.get(rule)) for rules in table.values()):
            return rule
    return TODAY


def markdown(table: dict) -> str:
    head = ('| model | rule | bbox regret | segm regret | bbox vs today '
            '| segm vs today |')
    lines = [head, '|---|---|---|---|---|---|']
    for model, rules in table.items():
        for rule, cells in rules.items():
            row = [LABELS.get(model, model), rule]
            for col in ('bbox', 'segm', 'bbox vs today', 'segm vs today'):
                text = study.fmt_cell(cells[col])
                if rule == TODAY and col.endswith('today'):
                    text = '-'
                elif cells[col].get('beats_today'):
                    text = f'**{text}**'
                row.append(text)
            lines.append('| ' + ' | '.join(row) + ' |')
    lines += [
        '', 'The default by this table (a rule that beats today\'s on every '
        f'model, bbox and segm, else today\'s): {verdict(table)}.'
    ]
    return '\n'.join(lines) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('study_dir', help='a study output folder (runs/)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--out', required=True, help='output path prefix')
    args = parser.parse_args(argv)
    cache = study.RunCache(osp.join(args.study_dir, 'runs'))
    records = {}
    for model in SWEPT:
        for seed in args.seeds:
            with open(cache.path(model, seed)) as f:
                records[(model, seed)] = json.load(f)
    table = compare(records, args.seeds)
    with open(args.out + '.json', 'w') as f:
        json.dump(
            dict(seeds=args.seeds, fixed=FIXED, table=table), f, indent=1)
    with open(args.out + '.md', 'w') as f:
        f.write(markdown(table))
    print(markdown(table))


if __name__ == '__main__':
    main()
