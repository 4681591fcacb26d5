# The recommended recipe: HTC R50 on LVIS v1, de-confounded training with
# repeat factor sampling and TDE inference. The stock + RFS twin with the
# box heads swapped.
_base_ = ['./htc_r50_fpn_sample1e-3_1x_lvis-v1.py', '../_base_/causal_head.py']

model = dict(
    roi_head=dict(bbox_head=[
        dict(head, type='Causal' + head.type, **_base_.causal_head)
        for head in _base_.model.roi_head.bbox_head
    ]))
