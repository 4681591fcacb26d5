# The stock Mask R-CNN R50 twin with repeat factor sampling (threshold 1e-3,
# as mmdet's lvis/mask-rcnn_r50_fpn_sample1e-3_ms-1x_lvis-v1.py); everything
# else is the plain-sampling config.
_base_ = './mask-rcnn_r50_fpn_1x_lvis-v1.py'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ClassBalancedDataset',
        oversample_thr=1e-3,
        dataset=_base_.train_dataloader.dataset))
