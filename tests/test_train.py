"The training loop: schedule, learning, cRT on cached features == cRT through the frozen backbone, resume."
import copy
import pytest
import torch
import torch.nn.functional as F
from csa_nb.models import build_model
from csa_nb.sampling import ClassAwareSampler, make_sampler
from csa_nb.metrics import summarize, predict
from csa_nb.train import fit, cosine_lr, retrain_classifier, to_unit, toy_blobs, get_method

def test_cosine_schedule_matches_the_authors_values():
    lr = cosine_lr(0.1, 8)
    assert [round(lr(e), 4) for e in range(8)] == [0.1, 0.0962, 0.0854, 0.0691, 0.05, 0.0309, 0.0146, 0.0038]
    assert round(lr(3), 4) == 0.0691   # last cRT epoch: the authors' cRT never goes below this

def test_fit_learns_long_tailed_blobs_and_reports_history():
    (x, y), (tx, ty) = toy_blobs()
    torch.manual_seed(0); lin = torch.nn.Linear(2, 4)
    ev = lambda m: summarize(predict(m, tx), ty, [400, 100, 25, 6], {'many': (0, 1), 'medium': (1, 3), 'few': (3, 4)})
    h = fit(lin, x, y, make_sampler('uniform', y, 4), epochs=4, lr_fn=cosine_lr(0.5, 4), evaluate=ev)
    assert [r['epoch'] for r in h] == [0, 1, 2, 3] and h[0]['samples'] == 531
    assert h[-1]['test']['all'] > 60 and h[-1]['test']['many'] > 95 and h[-1]['loss'] < h[0]['loss']   # chance: 25

def test_fit_rejects_negative_epochs():
    (x, y), _ = toy_blobs()
    with pytest.raises(ValueError, match='epochs must be >= 0'): fit(torch.nn.Linear(2, 4), x, y, make_sampler('uniform', y, 4), epochs=-1, lr_fn=cosine_lr(0.1, 8))

def test_crt_on_cached_features_equals_crt_through_frozen_backbone(toy):
    model = build_model('lenet2', 1, 4, seed=0)
    head, hist = retrain_classifier(model, toy, epochs=2, lr_fn=cosine_lr(0.1, 8), batch_size=16, seed=5)
    # the straightforward way: every re-sampled image goes through the frozen backbone again
    ref = copy.deepcopy(model.head); opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    sampler = ClassAwareSampler(toy.train_y, 4); lr = cosine_lr(0.1, 8)
    model.eval()
    for epoch in range(2):
        for g in opt.param_groups: g['lr'] = lr(epoch)
        idx = sampler.epoch_indices(epoch, 5 + 1_000_000)
        for b in range(0, len(idx), 16):
            bi = idx[b:b + 16]
            with torch.no_grad(): f = model.backbone(to_unit(toy.train_x[bi]))
            loss = F.cross_entropy(ref(f), toy.train_y[bi]); opt.zero_grad(); loss.backward(); opt.step()
    assert torch.allclose(head.weight, ref.weight, atol=1e-5) and torch.allclose(head.bias, ref.bias, atol=1e-5)
    assert len(hist) == 2 and len(hist[0]['test']['per_class']) == 4
    assert not torch.equal(head.weight, model.head.weight)       # the head moved, the model's own head did not

def test_interrupted_fit_resumes_to_the_same_model(toy, tmp_path):
    def train(ckpt=None, stop_after=None):
        torch.manual_seed(0); m = build_model('lenet2', 1, 4, seed=0)
        def stop(e, rec):
            if e == stop_after: raise KeyboardInterrupt
        kw = dict(epochs=3, lr_fn=cosine_lr(0.05, 3), batch_size=32, seed=1, prepare=to_unit, ckpt_path=ckpt, on_epoch_end=stop)
        try: h = fit(m, toy.train_x, toy.train_y, make_sampler('class-aware', toy.train_y, 4), **kw)
        except KeyboardInterrupt: h = None
        return m, h
    full, hfull = train()
    _, h = train(tmp_path / 'c.ckpt', stop_after=0)
    assert h is None and (tmp_path / 'c.ckpt').exists()
    resumed, hres = train(tmp_path / 'c.ckpt')
    assert [r['loss'] for r in hres] == [r['loss'] for r in hfull]
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()): assert torch.equal(a, b)

def test_methods_by_name():
    assert get_method('crt').stage2 and get_method('ce').sampler == 'uniform'
    with pytest.raises(ValueError, match='valid choices: ce, crt, cb-rs, rs-gamma, csa, csa-mixup'): get_method('ldam')
