# Stock baseline: Mask R-CNN R50-FPN, 1x, LVIS v1, plain sampling.
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    '../_base_/lvis_v1_data.py'
]

num_classes = 1203
model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes=num_classes),
        mask_head=dict(num_classes=num_classes)),
    test_cfg=dict(rcnn=dict(score_thr=0.0001, max_per_img=300)))

# LVIS v1 data and evaluator (configs/_base_/lvis_v1_data.py)
train_dataloader = _base_.lvis_train_dataloader
val_dataloader = _base_.lvis_test_dataloader
test_dataloader = val_dataloader
val_evaluator = _base_.lvis_evaluator
test_evaluator = val_evaluator
