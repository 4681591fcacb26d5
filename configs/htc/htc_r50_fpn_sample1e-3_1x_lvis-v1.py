# The stock HTC R50 twin trained with repeat factor sampling, as mmdet's LVIS
# configs wrap the train set (ClassBalancedDataset, threshold 1e-3: classes
# in fewer than 0.1% of the train images are repeated). Everything else is
# the plain-sampling config.
_base_ = './htc_r50_fpn_1x_lvis-v1.py'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ClassBalancedDataset',
        oversample_thr=1e-3,
        dataset=_base_.train_dataloader.dataset))
