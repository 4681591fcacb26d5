# HTC (no semantic branch) R50-FPN on LVIS v1 with de-confounded training and
# TDE inference: the stock twin with the box heads swapped.
_base_ = ['./htc_r50_fpn_1x_lvis-v1.py', '../_base_/causal_head.py']

model = dict(
    roi_head=dict(bbox_head=[
        dict(head, type='Causal' + head.type, **_base_.causal_head)
        for head in _base_.model.roi_head.bbox_head
    ]))
