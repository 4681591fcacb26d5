# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The long-tail study's figures: the table as bars with seed spreads, and
the convergence curve of seed 0."""
import numpy as np
from study import COLUMNS, IOU_TYPES

from mmdet_causal.visualization.figures import pyplot, save_png

plt = pyplot()


def table_figure(table, path, title):
    """Mean per row and column, the bar's whisker one standard deviation
    over seeds."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    width = 0.85 / len(table)
    x = np.arange(len(COLUMNS))
    for ax, iou in zip(axes, IOU_TYPES):
        for k, (row, entry) in enumerate(table.items()):
            cells = [entry['cells'][f'{iou}_{c}'] for c in COLUMNS]
            std = [0 if np.isnan(c['std']) else c['std'] for c in cells]
            ax.bar(
                x + k * width, [c['mean'] for c in cells],
                width,
                yerr=std,
                capsize=1.5,
                error_kw=dict(lw=0.7),
                label=row)
        ax.set_xticks(x + width * (len(table) - 1) / 2, COLUMNS)
        ax.set_title(f'{iou} (LVIS metric, mean ± std over seeds)')
        ax.grid(axis='y', alpha=0.3)
    axes[0].set_ylabel('%')
    # below the panels: inside, nine rows hide the bars of one group
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        fontsize=8,
        loc='lower center',
        ncol=min(3, len(labels)),
        frameon=False)
    fig.suptitle(title, fontsize=10)
    rows_of_legend = -(-len(labels) // 3)
    fig.tight_layout(rect=(0, 0.045 * rows_of_legend, 1, 1))
    save_png(fig, path, dpi=80)
    plt.close(fig)


def curve_figure(curves, path, iters):
    """Val AP (bbox, segm) and APr against iterations, one line per model
    (seed 0); the learning-rate step at three quarters marked."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    labels = {'stock': 'stock (linear)', 'causal': 'causal, alpha 0'}
    for ax, column in zip(axes, ('AP', 'APr')):
        for model, points in curves.items():
            its = [p['iter'] for p in points]
            for iou, style in (('bbox', '-o'), ('segm', '--s')):
                ax.plot(
                    its, [
                        100 * p['metrics'][f'lvis/{iou}_{column}']
                        for p in points
                    ],
                    style,
                    ms=3,
                    label=f'{labels.get(model, model)}, {iou}')
        ax.axvline(round(0.75 * iters), color='grey', lw=0.8, ls=':')
        ax.set_xlabel('training iterations (lr x0.1 at the dotted line)')
        ax.set_ylabel(f'val {column} (%)')
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(
        'convergence: val AP of seed 0 at intermediate checkpoints',
        fontsize=10)
    fig.tight_layout()
    save_png(fig, path, dpi=80)
    plt.close(fig)
