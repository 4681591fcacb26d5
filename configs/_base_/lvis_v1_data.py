# LVIS v1 data on the pipelines of a COCO config, and the LVIS evaluator.
# A config that inherits an mmdet COCO config adds this file as a second
# base and merges these partial dicts over the COCO ones (their names do not
# clash with the COCO config's keys, which a second base must not):
#   train_dataloader = _base_.lvis_train_dataloader
#   val_dataloader = test_dataloader = _base_.lvis_test_dataloader
#   val_evaluator = test_evaluator = _base_.lvis_evaluator
# Plain sampling (no repeat factor sampling), as in the TDE paper.
custom_imports = dict(imports=['mmdet_causal'], allow_failed_imports=False)
lvis_data_root = 'data/lvis_v1/'
lvis_train_dataloader = dict(
    dataset=dict(
        type='LVISV1Dataset',
        data_root=lvis_data_root,
        ann_file='annotations/lvis_v1_train.json',
        data_prefix=dict(img='')))
lvis_test_dataloader = dict(
    dataset=dict(
        type='LVISV1Dataset',
        data_root=lvis_data_root,
        ann_file='annotations/lvis_v1_val.json',
        data_prefix=dict(img='')))
# FastLVISMetric: mmdet's LVISMetric on hotcoco, every number equal to the
# official LVIS API (tested); backend='official' runs the lvis API itself
lvis_evaluator = dict(
    _delete_=True,
    type='FastLVISMetric',
    backend='hotcoco',
    ann_file=lvis_data_root + 'annotations/lvis_v1_val.json',
    metric=['bbox', 'segm'])
