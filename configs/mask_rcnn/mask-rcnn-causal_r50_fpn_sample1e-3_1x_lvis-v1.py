# Mask R-CNN R50 causal + RFS, 1x: the stock + RFS twin with the box head
# swapped.
_base_ = [
    './mask-rcnn_r50_fpn_sample1e-3_1x_lvis-v1.py', '../_base_/causal_head.py'
]

model = dict(
    roi_head=dict(
        bbox_head=dict(
            type='Causal' + _base_.model.roi_head.bbox_head.type,
            **_base_.causal_head)))
