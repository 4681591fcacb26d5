# The tiny Seesaw HTC trained with repeat factor sampling, the pairing mmdet
# ships for LVIS (configs/seesaw_loss/*_sample1e-3-seesaw-loss_*_lvis-v1.py):
# the Seesaw config with the stock RFS config's train set
# (ClassBalancedDataset). mmengine refuses two bases that both define the
# train set, so the wrapper is repeated here, as in the causal RFS twin.
_base_ = ['./htc_r18_fpn_seesaw_tiny-lvis.py']

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ClassBalancedDataset',
        oversample_thr=100 / 192,
        dataset=_base_.train_dataloader.dataset))
