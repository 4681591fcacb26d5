# The tiny stock HTC with Seesaw loss and a normalised linear classifier in
# every box stage, as mmdet's own LVIS Seesaw configs set them
# (configs/seesaw_loss/cascade-mask-rcnn_r101_fpn_seesaw-loss_*_lvis-v1.py:
# NormedLinear at temperature 20, SeesawLoss p=0.8, q=2.0); plain sampling.
# Everything else is the stock tiny config.
_base_ = './htc_r18_fpn_tiny-lvis.py'

model = dict(
    roi_head=dict(bbox_head=[
        dict(
            head,
            # temperature 20, NormedLinear's default; not named, since its
            # keyword is spelt `tempearture` in mmdet 3.3 and `temperature`
            # in the onedl fork
            cls_predictor_cfg=dict(type='NormedLinear'),
            loss_cls=dict(
                type='SeesawLoss',
                p=0.8,
                q=2.0,
                num_classes=head.num_classes,
                loss_weight=1.0)) for head in _base_.model.roi_head.bbox_head
    ]))
