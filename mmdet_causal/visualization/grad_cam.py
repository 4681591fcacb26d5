# Copyright (c) mmdet-causal contributors. All rights reserved.
"""Grad-CAM (Selvaraju et al., ICCV 2017) of one detection's class score.

For a detection of class ``c`` from RoI ``r``, the score is
``S = P(c | r)``, the probability the last box head gave it (after the
cascade's stage average, TDE or NorCal, as the detection was scored). With
``A`` the output of a feature level (``K`` channels) and ``G = dS/dA``::

    w_k = mean over positions of G_k        (one weight per channel)
    CAM = ReLU(sum_k w_k * A_k)

upsampled to the image. By default the level is the FPN output that the
RoI extractor pools this RoI from (``layer='auto'``).

Why not the ``grad-cam`` package (docs/figures.md): its detection support
expects torchvision's output contract and adds the box IoU to the score;
it would bring torchvision, scikit-learn and a second OpenCV build to a
CPU install for the two lines above.
"""
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from mmdet_causal.apis.debias_sweep import Strength
from .detections import box_iou, image_batch, predict_with_scores
from .figures import pyplot, save_png


def grad_cam(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """The Grad-CAM map of one image: ``(K, h, w)`` activation and
    gradient -> ``(h, w)``."""
    if activation.shape != gradient.shape or activation.dim() != 3:
        raise ValueError(
            f'activation {tuple(activation.shape)} and gradient '
            f'{tuple(gradient.shape)} must both be (channels, h, w)')
    weights = gradient.mean(dim=(1, 2))
    return F.relu((weights[:, None, None] * activation).sum(dim=0))


@dataclass
class DetectionCAM:
    """The map of one detection.

    ``cam``: ``(H, W)`` in [0, 1] on the original image (the map over its
    maximum; all zero if the map is); ``raw``: the map at the level's
    resolution, unnormalised; ``activation``/``gradient``: the level's
    output and ``dS/d(output)`` (``(K, h, w)``); ``box``/``label``/
    ``score``: the detection (original image frame); ``roi``: its RoI in
    the network's input frame ``(x1, y1, x2, y2)``; ``layer``: the module.
    """
    cam: np.ndarray
    raw: torch.Tensor
    activation: torch.Tensor
    gradient: torch.Tensor
    box: list
    label: int
    score: float
    roi: list
    layer: str


def pick_detection(sample,
                   box: Optional[Sequence[float]] = None,
                   label: Optional[int] = None) -> int:
    """The index of a detection: the most confident one of ``label``
    (any class if None) on ``box`` (IoU >= 0.5; anywhere if None)."""
    inst = sample.pred_instances
    best, best_score = None, -1.
    for j, (b, lab, s) in enumerate(
            zip(inst.bboxes.tolist(), inst.labels.tolist(),
                inst.scores.tolist())):
        if label is not None and lab != label:
            continue
        if box is not None and box_iou(b, box) < 0.5:
            continue
        if s > best_score:
            best, best_score = j, s
    if best is None:
        where = '' if box is None else f' on box {list(box)}'
        what = 'any class' if label is None else f'class {label}'
        raise ValueError(f'no detection of {what}{where}')
    return best


def auto_layer(model, roi: torch.Tensor) -> str:
    """The FPN output the box RoI extractor pools ``roi`` (``(1, 5)``)
    from."""
    roi_head = model.roi_head
    extractor = roi_head.bbox_roi_extractor
    extractor = extractor[-1] if isinstance(extractor,
                                            torch.nn.ModuleList) else extractor
    level = int(extractor.map_roi_levels(roi, extractor.num_inputs)[0])
    fpn_convs = getattr(model.neck, 'fpn_convs', None)
    if fpn_convs is None or level >= len(fpn_convs):
        raise ValueError(
            'layer="auto" needs an FPN neck whose fpn_convs make the '
            'pooled levels; name a module instead (e.g. backbone.layer4)')
    return f'neck.fpn_convs.{level}'


def _backprop_score(model, batch, strength, log_counts, layer: str, rois,
                    roi_class) -> torch.Tensor:
    """The second pass: keeps ``layer``'s output with its gradient, and
    back-propagates the probability of ``roi_class`` = (RoI index, label)."""
    module = model.get_submodule(layer)
    kept = {}

    def keep(_module, _args, output):
        output = output[0] if isinstance(output, (tuple, list)) else output
        output.retain_grad()
        kept['output'] = output

    handle = module.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            data = model.data_preprocessor(batch, False)
            _, record = predict_with_scores(model, data, strength, log_counts)
            if not torch.equal(record.rois, rois):
                raise RuntimeError('the second pass found other RoIs; the '
                                   'model is not deterministic')
            model.zero_grad(set_to_none=True)
            record.probs[roi_class].backward()
    finally:
        handle.remove()
    output = kept['output']
    if output.grad is None:
        raise ValueError(f'the score of the detection does not depend on '
                         f'{layer}; choose a layer it is computed from')
    return output


def detection_grad_cam(model,
                       image: Union[str, np.ndarray],
                       box: Optional[Sequence[float]] = None,
                       label: Optional[int] = None,
                       strength: Strength = Strength(),
                       log_counts: Optional[torch.Tensor] = None,
                       layer: str = 'auto') -> DetectionCAM:
    """Grad-CAM of the detection of ``label`` on ``box`` (see
    :func:`pick_detection`) predicted at ``strength``.

    Two passes: one without gradients finds the detection (and, for
    ``layer='auto'``, its level); the second, identical, keeps the graph
    and the level's output, and back-propagates the detection's score.
    """
    batch = image_batch(model, image)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            data = model.data_preprocessor(batch, False)
            sample, record = predict_with_scores(model, data, strength,
                                                 log_counts)
        det = pick_detection(sample, box, label)
        det_label = int(sample.pred_instances.labels[det])
        roi_idx = int(record.roi_of_det[det])
        roi = record.rois[roi_idx:roi_idx + 1]
        if layer == 'auto':
            layer = auto_layer(model, roi)
        output = _backprop_score(model, batch, strength, log_counts, layer,
                                 record.rois, (roi_idx, det_label))
    finally:
        model.train(was_training)
    activation, gradient = output[0].detach(), output.grad[0]
    raw = grad_cam(activation, gradient)
    cam = _to_image(raw, data['inputs'].shape[-2:], sample.metainfo)
    return DetectionCAM(
        cam=cam,
        raw=raw,
        activation=activation,
        gradient=gradient,
        box=sample.pred_instances.bboxes[det].tolist(),
        label=det_label,
        score=float(sample.pred_instances.scores[det]),
        roi=roi[0, 1:].tolist(),
        layer=layer)


def _to_image(raw: torch.Tensor, input_hw, meta: dict) -> np.ndarray:
    """The level's map on the original image: stretched over the padded
    network input, cropped to the resized image, resized to the original
    size, over its maximum."""
    full = F.interpolate(
        raw[None, None],
        size=tuple(input_hw),
        mode='bilinear',
        align_corners=False)[0, 0]
    h, w = meta['img_shape'][:2]
    oh, ow = meta['ori_shape'][:2]
    cam = F.interpolate(
        full[None, None, :h, :w],
        size=(oh, ow),
        mode='bilinear',
        align_corners=False)[0, 0]
    peak = float(cam.max())
    return (cam / peak).numpy() if peak > 0 else cam.numpy()


def draw_cams(image: Union[str, np.ndarray],
              cams: Sequence[DetectionCAM],
              titles: Sequence[str],
              path: Optional[str] = None):
    """The maps side by side over the image, each detection's box drawn.
    Returns the matplotlib figure."""
    plt = pyplot()
    import mmcv
    img = mmcv.imread(
        image, channel_order='rgb') if isinstance(image, str) else image
    fig, axes = plt.subplots(
        1, len(cams) + 1, figsize=(3.2 * (len(cams) + 1), 3.5))
    axes[0].imshow(img)
    axes[0].set_title('image', fontsize=9)
    for ax, cam, title in zip(axes[1:], cams, titles):
        ax.imshow(img)
        ax.imshow(cam.cam, cmap='jet', alpha=0.5, vmin=0, vmax=1)
        x1, y1, x2, y2 = cam.box
        ax.add_patch(
            plt.Rectangle((x1, y1),
                          x2 - x1,
                          y2 - y1,
                          fill=False,
                          color='white',
                          lw=2))
        ax.set_title(title, fontsize=8)
    for ax in axes:
        ax.axis('off')
    fig.tight_layout()
    if path:
        save_png(fig, path)
    return fig
