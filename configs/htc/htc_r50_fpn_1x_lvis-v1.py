# Stock baseline: HTC without semantic branch, R50-FPN, LVIS v1, with the
# same Shared4Conv1FC box heads as the causal twin (linear classifier), so
# the A/B differs only in the classifier. Plain sampling (no repeat factor
# sampling), as in the TDE paper; 1x schedule, SGD 0.02 for 8 GPUs x 2 images.
_base_ = [
    'mmdet::htc/htc-without-semantic_r50_fpn_1x_coco.py',
    '../_base_/lvis_v1_data.py'
]

num_classes = 1203
model = dict(
    roi_head=dict(
        bbox_head=[
            dict(
                head,
                type='Shared4Conv1FCBBoxHead',
                conv_out_channels=256,
                num_classes=num_classes)
            for head in _base_.model.roi_head.bbox_head
        ],
        mask_head=[
            dict(head, num_classes=num_classes)
            for head in _base_.model.roi_head.mask_head
        ]),
    # LVIS: keep low-score detections, up to 300 per image
    test_cfg=dict(rcnn=dict(score_thr=0.0001, max_per_img=300)))

# LVIS v1 data and evaluator (configs/_base_/lvis_v1_data.py)
train_dataloader = _base_.lvis_train_dataloader
val_dataloader = _base_.lvis_test_dataloader
test_dataloader = val_dataloader
val_evaluator = _base_.lvis_evaluator
test_evaluator = val_evaluator
