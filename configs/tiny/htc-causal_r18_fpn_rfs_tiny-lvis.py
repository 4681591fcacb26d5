# The tiny causal HTC trained with repeat factor sampling: the causal tiny
# config with the stock RFS config's train set (ClassBalancedDataset).
_base_ = ['./htc-causal_r18_fpn_tiny-lvis.py']

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ClassBalancedDataset',
        oversample_thr=100 / 192,
        dataset=_base_.train_dataloader.dataset))
