# Stock baseline: Cascade Mask R-CNN R101-FPN, 20 epochs, LVIS v1 (the
# detector of the published LVIS table), plain sampling.
_base_ = [
    'mmdet::cascade_rcnn/cascade-mask-rcnn_r101_fpn_20e_coco.py',
    '../_base_/lvis_v1_data.py'
]

num_classes = 1203
model = dict(
    roi_head=dict(
        bbox_head=[
            dict(head, num_classes=num_classes)
            for head in _base_.model.roi_head.bbox_head
        ],
        mask_head=dict(num_classes=num_classes)),
    test_cfg=dict(rcnn=dict(score_thr=0.0001, max_per_img=300)))

# LVIS v1 data and evaluator (configs/_base_/lvis_v1_data.py)
train_dataloader = _base_.lvis_train_dataloader
val_dataloader = _base_.lvis_test_dataloader
test_dataloader = val_dataloader
val_evaluator = _base_.lvis_evaluator
test_evaluator = val_evaluator
