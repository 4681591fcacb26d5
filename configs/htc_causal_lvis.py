# The main config: HTC (no semantic branch) R50-FPN, LVIS v1, causal heads.
#   tools/dist_train.sh configs/htc_causal_lvis.py 8
#   tools/test.py configs/htc_causal_lvis.py CKPT --eval bbox segm
_base_ = './htc/htc-causal_r50_fpn_1x_lvis-v1.py'
