"CSA mechanics: CAM == Grad-CAM on ResNet-32, mask shape/range/location, bank threshold/FIFO/capacity/reset, mixing."
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from csa_nb.models import build_model, ResNet32
from csa_nb.csa import (class_activation_map, grad_cam, normalise_cam, context_mask, ContextBank, context_shift,
                        CSANet, masks_and_fit, csa_step)
from csa_nb.augment import random_crop_flip, normalize

def test_cam_equals_autograd_grad_cam_on_resnet32():
    torch.manual_seed(0)
    net = CSANet(ResNet32(3), 10).eval()
    with torch.no_grad():   # give BatchNorm non-trivial running statistics
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d): m.running_mean.uniform_(-0.1, 0.1); m.running_var.uniform_(0.5, 1.5)
    x, y = torch.randn(6, 3, 32, 32), torch.tensor([0, 1, 2, 3, 4, 5])
    gc = grad_cam(net.backbone, net.head_u, x, y)
    with torch.no_grad(): cam = class_activation_map(net.backbone.forward_map(x), net.head_u.weight, y)
    assert gc.shape == cam.shape == (6, 8, 8)
    assert torch.allclose(normalise_cam(gc), normalise_cam(cam), atol=1e-5)
    masks, p = masks_and_fit(net, x, y)
    assert masks.shape == (6, 1, 32, 32) and float(masks.min()) >= 0 and float(masks.max()) <= 1
    assert torch.allclose(p, net(x).softmax(1)[torch.arange(6), y], atol=1e-6)

def test_mask_is_low_on_the_evidence_patch_and_high_elsewhere():
    fmap = torch.zeros(2, 1, 8, 8); fmap[0, 0, :2, :2] = 5.0; fmap[1, 0, 5:, 5:] = 3.0     # evidence in opposite corners
    cam = class_activation_map(fmap, torch.tensor([[1.0], [1.0]]), torch.tensor([0, 1]))
    m = context_mask(cam, (32, 32))
    assert m.shape == (2, 1, 32, 32)
    assert m[0, 0, :6, :6].max() < 0.05 and m[0, 0, 16:, 16:].min() > 0.95
    assert m[1, 0, 24:, 24:].max() < 0.05 and m[1, 0, :12, :12].min() > 0.95
    assert torch.equal(context_mask(torch.zeros(1, 8, 8), (32, 32)), torch.ones(1, 1, 32, 32))   # flat CAM: all context, no NaN

def test_bank_threshold_fifo_capacity_reset():
    b = ContextBank(capacity=3, threshold=0.8)
    img = lambda *v: torch.tensor(v, dtype=torch.float).view(-1, 1, 1, 1)
    assert b.add(img(1, 2, 3), torch.ones(3, 1, 1, 1), torch.tensor([0.8, 0.7999, 1.0])) == 2
    assert b.images.flatten().tolist() == [1.0, 3.0] and (b.seen, b.fit) == (3, 2)
    b.add(img(4, 5), torch.ones(2, 1, 1, 1), torch.tensor([0.9, 0.9]))
    assert b.images.flatten().tolist() == [3.0, 4.0, 5.0]
    with pytest.raises(ValueError, match='holds 3'): b.sample(4)
    b.reset(); assert len(b) == 0 and b.seen == 0
    with pytest.raises(ValueError): ContextBank(capacity=0)

def test_context_shift_by_hand():
    xb = torch.tensor([2.0, 2.0, 2.0]).view(1, 3, 1, 1); xc = torch.tensor([10.0, 0.0, -4.0]).view(1, 3, 1, 1)
    m = torch.tensor([0.5]).view(1, 1, 1, 1)
    out = context_shift(xb, xc, m, 0.4)                      # lam*M = 0.2
    assert torch.allclose(out.flatten(), torch.tensor([0.2 * 10 + 0.8 * 2, 0.8 * 2, 0.2 * -4 + 0.8 * 2]))

def test_csa_step_starts_the_balanced_branch_only_when_allowed():
    torch.manual_seed(0)
    net = CSANet(ResNet32(3, blocks=1), 4); opt = torch.optim.SGD(net.parameters(), lr=0.05)
    x, y = torch.randn(8, 3, 32, 32), torch.arange(8) % 4
    bank = ContextBank(capacity=8, threshold=0.0)            # everything fits
    assert csa_step(net, opt, x, y, x, y, bank, epoch=0, start_epoch=1)['loss2'] is None
    assert len(bank) == 8
    r = csa_step(net, opt, x, y, x, y, bank, epoch=1, start_epoch=1)
    assert r['loss2'] is not None and r['loss2'] > 0

def test_device_augmentation():
    x = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    y = random_crop_flip(x, torch.Generator().manual_seed(0))
    assert y.dtype == torch.uint8 and y.shape == x.shape
    assert torch.equal(random_crop_flip(x, torch.Generator().manual_seed(0)), y)
    n = normalize(x, (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
    assert n.dtype == torch.float32 and torch.allclose(n[:, 0], (x[:, 0].float() / 255 - 0.4914) / 0.2023)

def _toy_lt():
    from csa_nb.data import LTData
    from conftest import channel_squares
    g = torch.Generator().manual_seed(0)
    (x, y), (tx, ty) = channel_squares([24, 12, 6], g), channel_squares([6, 6, 6], g)
    return LTData('toy', x, y, tx, ty, 3, [24, 12, 6], {'many': (0, 1), 'medium': (1, 2), 'few': (2, 3)})

def test_csa_mixup_step_runs_and_learns():
    torch.manual_seed(0)
    net = CSANet(ResNet32(3, blocks=1), 4); opt = torch.optim.SGD(net.parameters(), lr=0.05)
    x, y = torch.randn(8, 3, 32, 32), torch.arange(8) % 4
    bank = ContextBank(capacity=8, threshold=0.0); g = torch.Generator().manual_seed(1)
    first = csa_step(net, opt, x, y, x, y, bank, epoch=1, start_epoch=0, generator=g, mixup_alpha=1.0)
    for _ in range(5): last = csa_step(net, opt, x, y, x, y, bank, epoch=1, start_epoch=0, generator=g, mixup_alpha=1.0)
    assert first['loss2'] is not None and last['loss2'] < first['loss2']

def test_interrupted_csa_run_resumes_to_the_same_result(tmp_path):
    from csa_nb.csa import fit_csa, evaluate_heads
    data = _toy_lt(); prep = lambda xb, g=None: random_crop_flip(xb, g).float() / 255
    def train(ckpt=None, stop_after=None):
        torch.manual_seed(0); net = CSANet(ResNet32(3, blocks=1), 3)
        def stop(e, rec):
            if e == stop_after: raise KeyboardInterrupt
        try:
            h = fit_csa(net, data, epochs=3, lr_fn=lambda e: 0.05, batch_size=8, prepare=prep, start_epoch=1, bank_size=8,
                        fit_threshold=0.0, ckpt_path=ckpt, on_epoch_end=stop, evaluate=lambda m: evaluate_heads(m, data, prep))
        except KeyboardInterrupt: h = None
        return net, h
    full, hf = train()
    _, none = train(tmp_path / 'c.ckpt', stop_after=1)
    assert none is None and (tmp_path / 'c.ckpt').exists()
    resumed, hr = train(tmp_path / 'c.ckpt')
    assert [r['loss'] for r in hr] == [r['loss'] for r in hf] and hr[-1]['test'] == hf[-1]['test']
    assert hf[0]['balanced_samples'] == 0 and hf[-1]['balanced_samples'] > 0
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()): assert torch.equal(a, b)

def test_csa_balanced_branch_follows_gamma():
    "The re-sampled stream is what gamma says: 0 a second uniform stream, 0.5 the weighted sampler; both train the balanced head."
    from csa_nb.csa import fit_csa
    from csa_nb.sampling import balanced_branch_sampler, UniformSampler, BalanceSampler
    data = _toy_lt(); prep = lambda xb, g=None: xb.float() / 255
    seen = {}
    for gamma, kind in [(0.0, UniformSampler), (0.5, BalanceSampler)]:
        s = balanced_branch_sampler(data.train_y, data.num_classes, gamma, len(data.train_y)); assert isinstance(s, kind)
        torch.manual_seed(0); net = CSANet(ResNet32(3, blocks=1), 3); before = net.head_b.weight.detach().clone()
        h = fit_csa(net, data, epochs=2, lr_fn=lambda e: 0.05, batch_size=8, prepare=prep, start_epoch=1, bank_size=8,
                    fit_threshold=0.0, balanced_sampler=s)
        assert h[1]['balanced_samples'] > 0 and not torch.equal(before, net.head_b.weight)
        seen[gamma] = h[1]['loss_balanced']
    assert seen[0.0] != seen[0.5]

def test_csa_examples_fall_back_to_the_most_confident_when_too_few_are_fit():
    from csa_nb.inspect import csa_examples
    from csa_nb.data import LTData
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(40, 3, 32, 32, generator=g) * 255).to(torch.uint8); y = torch.arange(40) % 4
    data = LTData('toy', x, y, x, y, 4, [10] * 4, {'many': (0, 1), 'medium': (1, 3), 'few': (3, 4)}, info={'mean': (0.5,) * 3, 'std': (0.25,) * 3})
    torch.manual_seed(0); net = CSANet(ResNet32(3, blocks=1), 4)
    z = csa_examples(net, data, lambda xb, g=None: (xb.float() / 255 - 0.5) / 0.25, threshold=1.0)   # nothing is fit at p >= 1
    assert z['fit'] == 0 and z['seen'] == 40 and not z['from_bank'] and len(z['context']) == 4
    assert list(z['context_p_true']) == sorted(z['context_p_true'], reverse=True) and list(z['tail_label']) == [0, 1, 2, 3]

def test_figures_of_a_run_without_its_model_name_the_fix(tmp_path):
    from csa_nb.experiments import RunSpec, ResultStore, ensure_artifacts
    store = ResultStore(tmp_path); spec = RunSpec.for_profile('cifar10-lt', 'ce', 'cpu')
    with pytest.raises(FileNotFoundError, match='has not finished'): ensure_artifacts(spec, store)
    store.save(spec, {'name': spec.name})
    with pytest.raises(FileNotFoundError, match='model.pt is missing.*--force'): ensure_artifacts(spec, store)
