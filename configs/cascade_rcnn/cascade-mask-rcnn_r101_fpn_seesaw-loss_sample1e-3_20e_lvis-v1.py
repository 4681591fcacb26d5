# Cascade Mask R-CNN R101 with Seesaw loss and repeat factor sampling, 20
# epochs: the stock + RFS twin with the classifier and its loss changed, as in
# mmdet's LVIS Seesaw configs (seesaw_loss/*_seesaw-loss_sample1e-3-*): a
# NormedLinear classifier at temperature 20 (its default, not named: the
# keyword is spelt `tempearture` in mmdet 3.3, `temperature` in the fork)
# and SeesawLoss p=0.8, q=2.0.
_base_ = './cascade-mask-rcnn_r101_fpn_sample1e-3_20e_lvis-v1.py'

model = dict(
    roi_head=dict(bbox_head=[
        dict(
            head,
            cls_predictor_cfg=dict(type='NormedLinear'),
            loss_cls=dict(
                type='SeesawLoss',
                p=0.8,
                q=2.0,
                num_classes=head.num_classes,
                loss_weight=1.0)) for head in _base_.model.roi_head.bbox_head
    ]))
