# Stock baseline: Mask R-CNN R50-FPN, 1x, LVIS v1, plain sampling.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmdet_causal'], allow_failed_imports=False)
num_classes = 1203
model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes=num_classes),
        mask_head=dict(num_classes=num_classes)),
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
