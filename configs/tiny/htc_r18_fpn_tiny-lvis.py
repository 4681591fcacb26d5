# Stock HTC (no semantic branch) shrunk to run on a 2-core CPU in minutes, on
# the built-in tiny LVIS (tools/misc/make_tiny_lvis.py writes it under
# data/tiny_lvis). Same model types as the full config; narrow widths
# (32 channels), ResNet-18 at a quarter width, 128 px images, random init
# (no download).
_base_ = '../htc/htc_r50_fpn_1x_lvis-v1.py'

num_classes = 16
classes = ('red_square', 'green_triangle', 'blue_diamond', 'yellow_hexagon',
           'magenta_star', 'cyan_cross', 'orange_circle', 'black_arrow',
           'green_square', 'blue_triangle', 'yellow_diamond',
           'magenta_hexagon', 'cyan_star', 'orange_cross', 'black_circle',
           'red_arrow')
width = 32  # FPN, RPN, RoI extractors and box/mask head convs
image_size = 128

model = dict(
    backbone=dict(
        depth=18,
        base_channels=16,
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=width),
    rpn_head=dict(in_channels=width, feat_channels=width),
    roi_head=dict(
        # sampling_ratio=2: mmcv's CPU RoIAlign with adaptive sampling was a
        # third of the iteration time
        bbox_roi_extractor=dict(
            out_channels=width, roi_layer=dict(sampling_ratio=2)),
        bbox_head=[
            dict(
                head,
                in_channels=width,
                conv_out_channels=width,
                fc_out_channels=256,
                num_classes=num_classes)
            for head in _base_.model.roi_head.bbox_head
        ],
        mask_roi_extractor=dict(
            out_channels=width, roi_layer=dict(sampling_ratio=2)),
        mask_head=[
            dict(
                head,
                in_channels=width,
                conv_out_channels=width,
                num_classes=num_classes)
            for head in _base_.model.roi_head.mask_head
        ]),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=[
            dict(stage, sampler=dict(stage.sampler, num=64))
            for stage in _base_.model.train_cfg.rcnn
        ]),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))

# data: the tiny LVIS, small images
data_root = 'data/tiny_lvis/'
metainfo = dict(classes=classes)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=2,
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=1,
    dataset=dict(
        data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/lvis_v1_val.json')
test_evaluator = val_evaluator

# schedule: a few epochs from scratch, evaluation only at the end (the demo
# evaluates with and without TDE itself)
max_epochs = 4
train_cfg = dict(max_epochs=max_epochs, val_begin=max_epochs + 1)
optim_wrapper = dict(
    optimizer=dict(lr=0.02), clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[3],
        gamma=0.1)
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
auto_scale_lr = dict(enable=False, base_batch_size=2)
# reproducible runs of the demo (same data order and initialisation)
randomness = dict(seed=0)
