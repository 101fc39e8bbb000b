"Metrics against hand computation."
import torch
from csa_nb.metrics import summarize, per_class_accuracy, count_groups, predict

def test_summarize_by_hand():
    # 4 classes; predictions chosen so per-class accuracies are 1, 1/2, 1/3, 0
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 3])
    preds = torch.tensor([0, 0, 1, 0, 2, 0, 0, 0])
    logits = torch.nn.functional.one_hot(preds, 4).float() * 3
    s = summarize(logits, labels, counts=[150, 60, 30, 10], groups={'many': (0, 1), 'medium': (1, 3), 'few': (3, 4)})
    assert s['all'] == 50.0                                   # 4 of 8 right
    assert s['per_class'] == [100.0, 50.0, 33.3333, 0.0]
    assert s['many'] == 100.0 and s['medium'] == round(100 * (0.5 + 1 / 3) / 2, 4) and s['few'] == 0.0
    assert count_groups([150, 60, 30, 10]) == {'many': [0], 'medium': [1, 2], 'few': [3]}
    assert s['few_by_count'] == 0.0 and s['many_by_count'] == 100.0

def test_top5_and_instance_vs_class_mean():
    logits = torch.arange(7.).repeat(3, 1)              # class 6 first, 2 sixth
    labels = torch.tensor([6, 2, 1])
    s = summarize(logits, labels, [5] * 7, {'every': (0, 7)})
    assert s['every'] == round(100 / 3, 4)                   # mean over the 3 classes present: 100, 0, 0
    assert s['all'] == round(100 / 3, 4) and s['top5'] == round(200 / 3, 4)

def test_per_class_nan_for_absent_class():
    pc = per_class_accuracy(torch.tensor([0, 1]), torch.tensor([0, 0]), 3)
    assert pc[0] == 0.5 and torch.isnan(pc[1]) and torch.isnan(pc[2])

def test_predict_restores_training_mode():
    m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Dropout(0.5)); m.train()
    x = torch.rand(9, 3)
    out = predict(m, x, batch_size=4)
    assert m.training and torch.allclose(out, m[0](x))
