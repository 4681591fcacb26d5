# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The table, JSON and plot of a strength sweep (``DebiasSweepTestLoop``)."""
import json
import os
import os.path as osp
from typing import List, Sequence

from mmdet_causal.visualization.figures import pyplot
from .strength_selection import metric_parts

COLUMNS = ('AP', 'AP50', 'APr', 'APc', 'APf')


def _iou_types(metrics: dict) -> List[str]:
    types = []
    for values in metrics.values():
        for iou, column in map(metric_parts, values):
            if column in COLUMNS and iou not in types:
                types.append(iou)
    return types


def _value(values: dict, iou: str, col: str) -> float:
    for key, value in values.items():
        if metric_parts(key) == (iou, col):
            return value
    return float('nan')


def format_sweep_table(report: dict) -> str:
    """Markdown: one row per strength, the test set's AP, AP50, APr, APc,
    APf per iou type (%), the selection metric first when there is one; the
    selected strength is starred."""
    test, select = report['test'], report.get('select')
    selected = report.get('selected')
    ious = _iou_types(test)
    head = ['strength']
    if select:
        head.append(f'held-out {selected["select_metric"].split("/")[-1]}')
    head += [f'{iou} {c}' for iou in ious for c in COLUMNS]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for name, values in test.items():
        mark = ' *' if selected and selected['name'] == name else ''
        cells = [f'{name}{mark}']
        if select:
            cells.append(
                f'{100 * select[name][selected["select_metric"]]:.1f}')
        cells += [
            f'{100 * _value(values, iou, c):.1f}' for iou in ious
            for c in COLUMNS
        ]
        lines.append('| ' + ' | '.join(cells) + ' |')
    if selected:
        lines.append(f'\n\\* selected on the held-out set '
                     f'({report["select_on"]}) by '
                     f'{selected["select_metric"]}')
    return '\n'.join(lines)


def write_sweep_report(out_dir: str, report: dict, settings: Sequence) -> str:
    """Write ``sweep.json``, ``sweep.md`` and (with matplotlib)
    ``sweep.png`` under ``out_dir``; returns the table."""
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'sweep.json'), 'w') as f:
        json.dump(report, f, indent=1)
    table = format_sweep_table(report)
    with open(osp.join(out_dir, 'sweep.md'), 'w') as f:
        f.write(table + '\n')
    try:
        plt = pyplot()
    except ImportError:
        return table
    _plot(plt, osp.join(out_dir, 'sweep.png'), report, settings)
    return table


def _plot(plt, path, report, settings) -> None:
    """Test AP and APr (and the held-out selection metric, dashed) against
    the knob with more values, one line per value of the other."""
    alphas = sorted({s.alpha for s in settings if s.alpha is not None})
    gammas = sorted({s.gamma for s in settings if s.gamma is not None})
    x_is_alpha = len(alphas) >= len(gammas)
    knob, other = ('alpha', 'gamma') if x_is_alpha else ('gamma', 'alpha')
    test, select = report['test'], report.get('select')
    selected = report.get('selected')
    ious = _iou_types(test)
    fig, axes = plt.subplots(
        1, len(ious), figsize=(6 * len(ious), 4), squeeze=False)
    groups = {}
    for s in settings:
        groups.setdefault(getattr(s, other), []).append(s)
    for ax, iou in zip(axes[0], ious):
        # one colour per value of the other knob; marker and line style
        # tell the metric
        for color, (value, members) in enumerate(groups.items()):
            xs = [getattr(s, knob) or 0.0 for s in members]
            suffix = '' if value is None else f' ({other} {value:g})'
            for col, style in (('AP', 'o-'), ('APr', 's:')):
                ax.plot(
                    xs,
                    [100 * _value(test[s.name], iou, col) for s in members],
                    style,
                    color=f'C{color}',
                    label=f'test {col}{suffix}')
            if select:
                key = selected['select_metric']
                ax.plot(
                    xs, [100 * select[s.name][key] for s in members],
                    '^--',
                    color=f'C{color}',
                    alpha=0.6,
                    label=f'held-out {key.split("/")[-1]}{suffix}')
        if selected:
            x = selected['strength'][knob] or 0.0
            ax.axvline(
                x, color='k', ls=':', label=f'selected: {selected["name"]}')
        ax.set_xlabel(knob)
        ax.set_ylabel(f'{iou} (%)')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
