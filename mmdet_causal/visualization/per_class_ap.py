# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Per-class AP against training frequency: read from metrics JSONs, drawn
on a log axis of training instances with LVIS's r/c/f groups shaded."""
import json
import math
from typing import Dict, Mapping, Optional, Sequence, Tuple

from .figures import pyplot, save_png

#: colours of the frequency groups' bands
GROUP_COLORS = {'r': '#d62728', 'c': '#ff7f0e', 'f': '#2ca02c'}
GROUP_NAMES = {'r': 'rare', 'c': 'common', 'f': 'frequent'}


def read_metrics(spec: str) -> Tuple[Dict[str, float], str]:
    """The metrics named by ``spec``: ``FILE`` or ``FILE@STRENGTH``.

    ``FILE`` is ``tools/test.py --metrics-out`` output (``{"metrics":
    ...}``), a sweep report (``sweep.json``: ``{"test": {strength:
    metrics}}``; without ``@`` its selected strength) or a flat dict of
    metrics. ``@STRENGTH`` picks one strength of a sweep (``alpha=1.5``):
    the report's entry, or the ``STRENGTH/``-prefixed keys of a
    ``--metrics-out`` file. Returns the metrics and a label.
    """
    path, _, strength = spec.partition('@')
    with open(path) as f:
        data = json.load(f)
    if 'test' in data and isinstance(data['test'], dict):  # sweep.json
        if not strength:
            if not data.get('selected'):
                raise ValueError(
                    f'{path} is a sweep without a selected strength: name '
                    f'one as {path}@STRENGTH ({", ".join(data["test"])})')
            strength = data['selected']['name']
        if strength not in data['test']:
            raise KeyError(f'{path} has no strength {strength!r}; it has '
                           f'{", ".join(data["test"])}')
        return data['test'][strength], f'{path}@{strength}'
    metrics = data.get('metrics', data)
    if strength:
        prefix = strength + '/'
        metrics = {
            k[len(prefix):]: v
            for k, v in metrics.items() if k.startswith(prefix)
        }
        if not metrics:
            raise KeyError(f'{path} has no metrics of strength '
                           f'{strength!r} (keys "{prefix}...")')
    return metrics, spec


def per_class_ap(metrics: Mapping[str, float],
                 names: Sequence[str],
                 iou: str = 'bbox') -> Dict[str, float]:
    """Each class's AP from a metrics dict holding ``FastLVISMetric(
    classwise=True)`` output (``lvis/{iou}_{name}_precision``, with or
    without the ``lvis/`` prefix); NaN where the class has no ground truth.
    """
    out = {}
    missing = []
    for name in names:
        for key in (f'lvis/{iou}_{name}_precision', f'{iou}_{name}_precision'):
            if key in metrics:
                out[name] = float(metrics[key])
                break
        else:
            missing.append(name)
    if missing:
        raise KeyError(
            f'no per-class {iou} AP for {len(missing)} classes (e.g. '
            f'{missing[0]!r}): evaluate with FastLVISMetric(classwise=True) '
            '(tools/test.py --cfg-options test_evaluator.classwise=True); '
            "mmdet's LVISMetric writes per-class AP without the iou type")
    return out


def train_class_stats(ann_file: str) -> Tuple[Dict[str, int], Dict[str, str]]:
    """Per class name: training instances and LVIS frequency group, from an
    LVIS-format train file (its ``instance_count``/``frequency``, counted
    from the annotations where absent)."""
    with open(ann_file) as f:
        data = json.load(f)
    counted: Dict[int, int] = {}
    for ann in data.get('annotations', []):
        counted[ann['category_id']] = counted.get(ann['category_id'], 0) + 1
    counts, groups = {}, {}
    for cat in data['categories']:
        counts[cat['name']] = cat.get('instance_count',
                                      counted.get(cat['id'], 0))
        groups[cat['name']] = cat.get('frequency', '?')
    return counts, groups


def _scatter_with_trend(ax, aps: Mapping[str, float],
                        counts: Mapping[str, int], marker: str, label: str):
    """One series: a point per class with ground truth, and its mean AP in
    log-spaced bins of training instances as a line."""
    import numpy as np
    names = [n for n in aps if not math.isnan(aps[n])]
    x = np.array([max(counts[n], 1) for n in names], dtype=float)
    y = np.array([100 * aps[n] for n in names])
    points = ax.scatter(x, y, s=16, marker=marker, alpha=0.7, label=label)
    if len(x) >= 2:  # a trend: mean AP in log-spaced bins
        edges = np.geomspace(x.min(), x.max() * 1.0001, 7)
        idx = np.digitize(x, edges)
        bx, by = [], []
        for b in np.unique(idx):
            sel = idx == b
            bx.append(np.exp(np.log(x[sel]).mean()))
            by.append(y[sel].mean())
        ax.plot(bx, by, color=points.get_facecolor()[0][:3], lw=1.2)


def plot_per_class_ap(series: Mapping[str, Mapping[str, float]],
                      counts: Mapping[str, int],
                      groups: Mapping[str, str],
                      path: Optional[str] = None,
                      title: Optional[str] = None):
    """Draw per-class AP (y, %) against training instances (x, log).

    Args:
        series: Label -> class name -> AP (a fraction, NaN for no ground
            truth: not drawn).
        counts: Class name -> training instances (a class with none is
            drawn at 1, where the log axis starts).
        groups: Class name -> ``'r'``, ``'c'`` or ``'f'``: each group's span
            of training instances is shaded.
        path: Write the figure here (PNG) if given.
        title: Figure title.

    Returns:
        matplotlib.figure.Figure: one scatter collection per series, in
        order, whose offsets are (instances, AP %) of its classes.
    """
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for group in 'rcf':
        xs = [max(counts[n], 1) for n in counts if groups.get(n) == group]
        if xs:
            ax.axvspan(
                min(xs) / 1.15,
                max(xs) * 1.15,
                color=GROUP_COLORS[group],
                alpha=0.08,
                lw=0,
                label=f'{GROUP_NAMES[group]} classes')
    markers = 'os^vDP*Xhp<>'
    for k, (label, aps) in enumerate(series.items()):
        _scatter_with_trend(ax, aps, counts, markers[k % len(markers)], label)
    ax.set_xscale('log')
    ax.set_xlabel('training instances of the class (log)')
    ax.set_ylabel('AP of the class (%)')
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3, which='both')
    ax.legend(fontsize=7, ncol=2, loc='lower right')
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    if path:
        save_png(fig, path)
    return fig
