# The tiny HTC with de-confounded training and TDE: the stock tiny config
# with the RoI head and box heads swapped.
_base_ = ['./htc_r18_fpn_tiny-lvis.py', '../_base_/causal_head.py']

model = dict(
    roi_head=dict(
        type='CausalHybridTaskCascadeRoIHead',
        bbox_head=[
            dict(head, type='Causal' + head.type, **_base_.causal_head)
            for head in _base_.model.roi_head.bbox_head
        ]))
