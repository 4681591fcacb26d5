# The tiny HTC with de-confounded training and TDE: the stock tiny config
# with the box heads swapped. It names the RoI head's alias of mmdet-causal
# 0.1 (the same class as mmdet's HybridTaskCascadeRoIHead, bit for bit):
# the long-tail study's run records fingerprint this config, and the
# records made with it stay valid.
_base_ = ['./htc_r18_fpn_tiny-lvis.py', '../_base_/causal_head.py']

model = dict(
    roi_head=dict(
        type='CausalHybridTaskCascadeRoIHead',
        bbox_head=[
            dict(head, type='Causal' + head.type, **_base_.causal_head)
            for head in _base_.model.roi_head.bbox_head
        ]))
