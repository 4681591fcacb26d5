# HTC R50 with Seesaw loss and repeat factor sampling, 1x: the stock + RFS
# twin with mmdet's LVIS Seesaw classifier in every box stage
# (configs/_base_/seesaw_head.py).
_base_ = ['./htc_r50_fpn_sample1e-3_1x_lvis-v1.py', '../_base_/seesaw_head.py']

model = dict(
    roi_head=dict(bbox_head=[
        dict(
            head,
            cls_predictor_cfg=_base_.seesaw_cls_predictor,
            loss_cls=dict(_base_.seesaw_loss, num_classes=head.num_classes))
        for head in _base_.model.roi_head.bbox_head
    ]))
