# Copyright (c) mmdet-causal contributors. All rights reserved.
"""One image at several test-time strengths (TDE alphas, NorCal gammas):
the detections of each, the boxes whose label changes between them, and
those boxes' top class probabilities at every strength."""
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from mmdet_causal.apis.debias_sweep import Strength
from .detections import box_iou, class_names, image_batch, predict_with_scores
from .figures import pyplot, save_png


@dataclass
class ChangedBox:
    """A box shown with different labels at different strengths.

    At strength ``k``: ``labels[k]`` and ``scores[k]`` are those of the
    most confident detection shown (score at or above the threshold) on
    this box (IoU >= 0.7), None where none is; ``rois[k]`` is the RoI that
    detection came from (else the RoI of the box's first detection), and
    ``top[k]`` that RoI's most probable classes at strength ``k`` as
    ``(name, probability)``, ``'background'`` included.
    """
    box: List[float]
    labels: List[Optional[int]]
    scores: List[Optional[float]]
    rois: List[int]
    top: List[List[Tuple[str, float]]] = field(default_factory=list)


@dataclass
class StrengthComparison:
    strengths: List[Strength]
    classes: List[str]
    samples: list  # DetDataSample per strength
    changed: List[ChangedBox]
    score_thr: float


def _shown(sample, record, score_thr: float) -> list:
    """The detections at or above the threshold: (box, label, score, RoI),
    most confident first."""
    inst = sample.pred_instances
    out = [(box, label, score, int(roi))
           for box, label, score, roi in zip(inst.bboxes.tolist(
           ), inst.labels.tolist(), inst.scores.tolist(), record.roi_of_det)
           if score >= score_thr]
    return sorted(out, key=lambda d: -d[2])


def _predict_all(model, image, strengths: Sequence[Strength], log_counts):
    """The data sample and score record of ``image`` at every strength,
    checked to share their RoIs."""
    batch = image_batch(model, image)
    samples, records = [], []
    with torch.no_grad():
        for strength in strengths:
            data = model.data_preprocessor(batch, False)
            sample, record = predict_with_scores(model, data, strength,
                                                 log_counts)
            samples.append(sample)
            records.append(record)
    for s, record in zip(strengths[1:], records[1:]):
        if not torch.equal(record.rois, records[0].rois):
            raise ValueError(
                f'the RoIs at {s.name} differ from those at '
                f'{strengths[0].name}: this model refines boxes along the '
                'predicted class, so boxes cannot be followed across '
                'strengths')
    return samples, records


def _changed_boxes(shown: list, wanted: Optional[int],
                   max_changed: int) -> List[ChangedBox]:
    """The boxes shown with two labels at two strengths (one of them
    ``wanted``, if given), most confident first, each box once."""
    candidates = []
    for anchor in (d for dets in shown for d in dets):
        labels, scores, rois = [], [], []
        for dets in shown:
            best = next((d for d in dets if box_iou(d[0], anchor[0]) >= 0.7),
                        None)
            labels.append(None if best is None else best[1])
            scores.append(None if best is None else best[2])
            rois.append(anchor[3] if best is None else best[3])
        distinct = {label for label in labels if label is not None}
        if len(distinct) < 2 or (wanted is not None
                                 and wanted not in distinct):
            continue
        candidates.append(
            (anchor[2], ChangedBox(anchor[0], labels, scores, rois)))
    candidates.sort(key=lambda c: -c[0])
    changed: List[ChangedBox] = []
    for _, c in candidates:
        if len(changed) < max_changed and not any(
                box_iou(c.box, o.box) >= 0.7 for o in changed):
            changed.append(c)
    return changed


def compare_strengths(model,
                      image: Union[str, np.ndarray],
                      strengths: Sequence[Strength],
                      score_thr: float = 0.3,
                      log_counts: Optional[torch.Tensor] = None,
                      class_name: Optional[str] = None,
                      max_changed: int = 3,
                      top_k: int = 5) -> StrengthComparison:
    """Predict ``image`` at every strength and find the boxes whose label
    changes between them.

    Neither alpha nor gamma moves a RoI (class-agnostic refinement; NorCal
    acts after it; checked), so a box's RoIs are the same at every
    strength and their class probabilities tell why its label changed. A
    box is reported when detections on it (IoU >= 0.7) are shown (score
    ``>= score_thr``) with two different labels at two strengths; the most
    confident first, each box once, at most ``max_changed`` (only those
    shown as ``class_name`` at some strength, if given).
    """
    names = class_names(model)
    if class_name is not None and class_name not in names:
        raise ValueError(f'--class {class_name!r} is not a class of this '
                         f'model (e.g. {names[:5]})')
    samples, records = _predict_all(model, image, strengths, log_counts)
    shown = [
        _shown(sample, record, score_thr)
        for sample, record in zip(samples, records)
    ]
    wanted = None if class_name is None else names.index(class_name)
    changed = _changed_boxes(shown, wanted, max_changed)
    labelled = names + ['background']
    for c in changed:
        for record, roi in zip(records, c.rois):
            probs = record.probs[roi]
            p, idx = probs.topk(min(top_k, len(probs)))
            c.top.append([(labelled[i], float(v))
                          for v, i in zip(p.tolist(), idx.tolist())])
    return StrengthComparison(
        list(strengths), names, samples, changed, score_thr=score_thr)


def _enlarged(sample, scale: int):
    """A copy of the data sample's predictions ``scale`` times larger."""
    if scale == 1:
        return sample
    import torch.nn.functional as F
    out = sample.clone()
    inst = out.pred_instances
    inst.bboxes = inst.bboxes * scale
    if 'masks' in inst and len(inst.masks):
        inst.masks = F.interpolate(
            inst.masks[None].float(), scale_factor=scale,
            mode='nearest')[0].bool()
    return out


def _panels(comparison: StrengthComparison, image, min_side: int) -> list:
    """The image with each strength's detections (``DetLocalVisualizer``),
    the changed boxes outlined and numbered; enlarged when small."""
    import mmcv
    from mmdet.visualization import DetLocalVisualizer

    img = mmcv.imread(
        image, channel_order='rgb') if isinstance(image, str) else image
    # small images are drawn enlarged, so that names and scores are legible
    scale = max(1, int(np.ceil(min_side / min(img.shape[:2]))))
    img = mmcv.imrescale(img, scale, interpolation='nearest')
    # translucent masks: the object under a mask stays visible
    vis = DetLocalVisualizer(name=f'tde_panels_{id(comparison)}', alpha=0.4)
    vis.dataset_meta = dict(classes=comparison.classes)
    panels = []
    for sample in comparison.samples:
        vis.add_datasample(
            'panel',
            img,
            _enlarged(sample, scale),
            draw_gt=False,
            show=False,
            pred_score_thr=comparison.score_thr)
        if comparison.changed:
            boxes = scale * np.array([c.box for c in comparison.changed])
            vis.draw_bboxes(boxes, edge_colors='white', line_widths=3)
            vis.draw_texts([f'#{i + 1}' for i in range(len(boxes))],
                           boxes[:, 2:] - 3,
                           colors='white',
                           font_sizes=11,
                           vertical_alignments='bottom',
                           horizontal_alignments='right')
        panels.append(vis.get_image())
    return panels


def _table_lines(comparison: StrengthComparison) -> List[str]:
    """The changed boxes' label and top classes at every strength."""
    lines = []
    for i, c in enumerate(comparison.changed):
        for s, top, label in zip(comparison.strengths, c.top, c.labels):
            shown = comparison.classes[label] if label is not None else '-'
            probs = ', '.join(f'{name} {p:.2f}' for name, p in top)
            lines.append(f'#{i + 1} {s.name:>16}: shown as {shown:<14} '
                         f'top: {probs}')
    return lines or [
        f'no box changes its label between these strengths '
        f'(score >= {comparison.score_thr})'
    ]


def draw_comparison(comparison: StrengthComparison,
                    image: Union[str, np.ndarray],
                    path: Optional[str] = None,
                    title: Optional[str] = None,
                    min_side: int = 384):
    """One panel per strength, drawn by mmdet's ``DetLocalVisualizer``
    (boxes, masks, class names, scores above the threshold), the changed
    boxes outlined in white and numbered, and a table of their top class
    probabilities at every strength. Images whose short side is under
    ``min_side`` are drawn enlarged by an integer factor. Returns the
    matplotlib figure."""
    plt = pyplot()

    panels = _panels(comparison, image, min_side)
    n = len(panels)
    lines = _table_lines(comparison)
    dpi = 90  # panels at their pixel size
    panel_h, panel_w = panels[0].shape[:2]
    table_h = 0.16 * len(lines) + 0.2
    fig = plt.figure(
        figsize=(max(n * panel_w / dpi, 8), panel_h / dpi + table_h + 0.5))
    grid = fig.add_gridspec(2, n, height_ratios=[panel_h / dpi, table_h])
    for k, (panel, s) in enumerate(zip(panels, comparison.strengths)):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(panel)
        ax.set_title(s.name, fontsize=9)
        ax.axis('off')
    ax = fig.add_subplot(grid[1, :])
    ax.axis('off')
    ax.text(
        0,
        1,
        '\n'.join(lines),
        family='monospace',
        fontsize=7,
        va='top',
        transform=ax.transAxes)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    if path:
        save_png(fig, path, dpi=dpi)
    return fig
