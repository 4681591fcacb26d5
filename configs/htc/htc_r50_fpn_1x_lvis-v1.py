# Stock baseline: HTC without semantic branch, R50-FPN, LVIS v1, with the
# same Shared4Conv1FC box heads as the causal twin (linear classifier), so
# the A/B differs only in the classifier. Plain sampling (no repeat factor
# sampling), as in the TDE paper; 1x schedule, SGD 0.02 for 8 GPUs x 2 images.
_base_ = 'mmdet::htc/htc-without-semantic_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmdet_causal'], allow_failed_imports=False)
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

# LVIS v1 data, on the pipelines of the COCO config
dataset_type = 'LVISV1Dataset'
data_root = 'data/lvis_v1/'
train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/lvis_v1_train.json',
        data_prefix=dict(img='')))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/lvis_v1_val.json',
        data_prefix=dict(img='')))
test_dataloader = val_dataloader
# FastLVISMetric: mmdet's LVISMetric on hotcoco, every number equal to the
# official LVIS API (tested); backend='official' runs the lvis API itself
val_evaluator = dict(
    _delete_=True,
    type='FastLVISMetric',
    backend='hotcoco',
    ann_file=data_root + 'annotations/lvis_v1_val.json',
    metric=['bbox', 'segm'])
test_evaluator = val_evaluator
