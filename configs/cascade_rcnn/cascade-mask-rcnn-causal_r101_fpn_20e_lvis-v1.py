# Cascade Mask R-CNN R101-FPN 20e on LVIS v1, de-confounded + TDE: the stock
# twin with the box heads swapped.
_base_ = [
    './cascade-mask-rcnn_r101_fpn_20e_lvis-v1.py', '../_base_/causal_head.py'
]

model = dict(
    roi_head=dict(bbox_head=[
        dict(head, type='Causal' + head.type, **_base_.causal_head)
        for head in _base_.model.roi_head.bbox_head
    ]))
