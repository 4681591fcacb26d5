# mmdet's LVIS Seesaw classifier for a box head, as its LVIS Seesaw configs
# set it (seesaw_loss/*_seesaw-loss_sample1e-3-*_lvis-v1.py): a NormedLinear
# classifier at temperature 20 (its default, not named: the keyword is
# spelt `tempearture` in mmdet 3.3, `temperature` in the fork) and
# SeesawLoss p=0.8, q=2.0. A config adds the head's number of classes:
#   dict(head, cls_predictor_cfg=_base_.seesaw_cls_predictor,
#        loss_cls=dict(_base_.seesaw_loss, num_classes=head.num_classes))
seesaw_cls_predictor = dict(type='NormedLinear')
seesaw_loss = dict(type='SeesawLoss', p=0.8, q=2.0, loss_weight=1.0)
