# The stock Cascade Mask R-CNN R101 twin with repeat factor sampling
# (threshold 1e-3, as mmdet's LVIS configs); everything else is the
# plain-sampling config.
_base_ = './cascade-mask-rcnn_r101_fpn_20e_lvis-v1.py'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ClassBalancedDataset',
        oversample_thr=1e-3,
        dataset=_base_.train_dataloader.dataset))
