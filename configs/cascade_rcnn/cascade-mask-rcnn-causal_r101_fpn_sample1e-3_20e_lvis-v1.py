# Cascade Mask R-CNN R101 causal + RFS, 20 epochs: the stock + RFS twin with
# the box heads swapped.
_base_ = [
    './cascade-mask-rcnn_r101_fpn_sample1e-3_20e_lvis-v1.py',
    '../_base_/causal_head.py'
]

model = dict(
    roi_head=dict(bbox_head=[
        dict(head, type='Causal' + head.type, **_base_.causal_head)
        for head in _base_.model.roi_head.bbox_head
    ]))
