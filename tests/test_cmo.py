"CMO (09f_cmo): the box and its label coefficient by hand, the paste, the minority sampler's class probabilities, the step's loss, and an end-to-end run."
import math, sys
from pathlib import Path
import pytest
import torch
import torch.nn.functional as F
sys.path.insert(0, str(Path(__file__).parent))
from test_loop_golden import make_toy32, TOY32
import csa_nb.cmo   # noqa: F401 (registers the method and its step)
from csa_nb import data as D, experiments as E
from csa_nb.cmo import cutmix_box, box_lambda, paste_box, MinoritySampler, cmo_window, CMOStep, cmo_parts
from csa_nb.mixing import beta_draw
from csa_nb.core import Precision
from csa_nb.train import get_method, STEPS
from csa_nb.experiments import RunSpec, ResultStore, run_experiment


def test_box_and_label_coefficient_by_hand():
    # lam 0.75 on 32 x 32: cut 32 * sqrt(0.25) = 16, 8 each side of the centre
    assert cutmix_box(32, 32, 0.75, 16, 16) == (8, 24, 8, 24)
    assert box_lambda((8, 24, 8, 24), 32, 32) == 0.75
    # clipped at the top and right border: rows 0..10, columns 22..32 -> 100 pixels
    box = cutmix_box(32, 32, 0.75, 2, 30)
    assert box == (0, 10, 22, 32) and box_lambda(box, 32, 32) == pytest.approx(1 - 100 / 1024)
    # a rectangular image: rows 16 * 0.5 = 8 (4 each side), columns 32 * 0.5 = 16; centre (0, 0) clips both to the corner
    box = cutmix_box(16, 32, 0.75, 0, 0)
    assert box == (0, 4, 0, 8) and box_lambda(box, 16, 32) == pytest.approx(1 - 32 / 512)
    # an odd cut (15) loses a pixel: 7 each side (the authors' floored halves)
    assert cutmix_box(32, 32, 1 - (15.5 / 32) ** 2, 16, 16) == (9, 23, 9, 23)
    assert box_lambda(cutmix_box(32, 32, 1.0, 3, 3), 32, 32) == 1.0
    with pytest.raises(ValueError, match=r'\[0, 1\]'): cutmix_box(32, 32, -0.1, 0, 0)

def test_pasted_pixels_come_from_the_foreground_and_the_rest_from_the_background():
    bg = torch.arange(2 * 3 * 6 * 6, dtype=torch.float).reshape(2, 3, 6, 6)
    fg = -1 - torch.arange(2 * 3 * 6 * 6, dtype=torch.float).reshape(2, 3, 6, 6)
    box = (1, 4, 2, 6)
    out = paste_box(bg, fg, box)
    inside = torch.zeros(6, 6, dtype=torch.bool); inside[1:4, 2:6] = True
    assert torch.equal(out[..., inside], fg[..., inside]) and torch.equal(out[..., ~inside], bg[..., ~inside])
    assert torch.equal(bg, torch.arange(2 * 3 * 6 * 6, dtype=torch.float).reshape(2, 3, 6, 6))   # the input is not modified
    with pytest.raises(ValueError, match='one shape'): paste_box(bg, fg[:1], box)

def test_minority_sampler_class_probabilities():
    labels = torch.tensor([1] * 8 + [0] * 4 + [2] * 2 + [3])   # counts 4, 8, 2, 1
    n = torch.tensor([4., 8., 2., 1.], dtype=torch.float64)
    # power 2: class probabilities ~ 1/n_k, normalised
    s = MinoritySampler(labels, 4, power=2.0, num_samples=20_000)
    assert torch.allclose(s.class_probs, (1 / n) / (1 / n).sum())
    freq = torch.bincount(labels[s.epoch_indices(0, seed=3)], minlength=4).double() / 20_000
    assert torch.allclose(freq, s.class_probs, atol=0.015)
    # the authors' default (per-image weight 1/n_k): every class equally likely; power 0: the data's own frequencies
    assert torch.allclose(MinoritySampler(labels, 4).class_probs, torch.full((4,), 0.25, dtype=torch.float64))
    assert torch.allclose(MinoritySampler(labels, 4, power=0).class_probs, n / n.sum())
    assert torch.allclose(MinoritySampler(labels, 4).weights, 1 / n[labels])
    # an absent class gets no probability, and the stream is its own (not the uniform shuffle's)
    assert MinoritySampler(torch.tensor([0, 0, 2]), 3).class_probs[1] == 0
    assert len(s) == 20_000 and len(MinoritySampler(labels, 4)) == len(labels)
    assert torch.equal(s.epoch_indices(2, 1), s.epoch_indices(2, 1)) and not torch.equal(s.epoch_indices(2, 1), s.epoch_indices(2, 2))

def test_window_follows_the_authors_epochs():
    assert cmo_window(200) == range(4, 197)       # start_data_aug 3 < epoch < 200 - 3
    assert cmo_window(5) == range(1, 5)
    with pytest.raises(ValueError, match='cmo_end'): cmo_window(10, 0.1, 1.5)

def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 6 * 6, 3))

def test_mix_prob_zero_is_plain_cross_entropy_on_the_background():
    net = _net(); g = torch.Generator().manual_seed(0)
    xb, xf = torch.randn(5, 3, 6, 6, generator=g), torch.randn(5, 3, 6, 6, generator=g)
    yb, yf = torch.tensor([0, 0, 1, 0, 0]), torch.tensor([2, 2, 1, 2, 1])
    st = CMOStep(net, prob=0.0); st.begin_epoch(10, 200)
    for s in range(5):
        loss = st([(xb, yb), (xf, yf)], 10, torch.Generator().manual_seed(s))
        assert torch.equal(loss, F.cross_entropy(net(xb), yb))
    assert st.end_epoch(25) == {'loss': pytest.approx(F.cross_entropy(net(xb), yb).item(), abs=1e-6), 'cmo_batches': 0, 'batches': 5}

def test_mix_prob_one_gives_the_mixed_loss_of_the_drawn_box():
    net = _net(); g = torch.Generator().manual_seed(1)
    xb, xf = torch.randn(4, 3, 6, 6, generator=g), torch.randn(4, 3, 6, 6, generator=g)
    yb, yf = torch.tensor([0, 0, 1, 0]), torch.tensor([2, 1, 2, 2])
    st = CMOStep(net, prob=1.0); st.begin_epoch(10, 200)
    got = st([(xb, yb), (xf, yf)], 10, torch.Generator().manual_seed(7))
    r = torch.Generator().manual_seed(7); torch.rand((), generator=r); lam = beta_draw(1.0, r)
    cy, cx = int(torch.randint(6, (), generator=r)), int(torch.randint(6, (), generator=r))
    box = cutmix_box(6, 6, lam, cy, cx); lb = box_lambda(box, 6, 6)
    z = net(paste_box(xb, xf, box))
    assert torch.allclose(got, lb * F.cross_entropy(z, yb) + (1 - lb) * F.cross_entropy(z, yf))
    st.begin_epoch(0, 200)   # outside the window: plain CE even at probability 1
    assert torch.equal(st([(xb, yb), (xf, yf)], 0, torch.Generator().manual_seed(7)), F.cross_entropy(net(xb), yb))
    with pytest.raises(ValueError, match='cmo_prob'): CMOStep(net, prob=-0.1)

def test_registration_and_factory():
    m = get_method('cmo')
    assert m.step == 'cmo' and STEPS['cmo'] is cmo_parts and m.paper_row == 'CMO' and m.in_table2 and m.paper_row in E.PAPER_TABLE2
    assert dict(m.defaults) == {'cmo_prob': 0.5, 'cmo_beta': 1.0, 'cmo_power': 1.0, 'cmo_start': 0.015, 'cmo_end': 0.015}
    data = make_toy32()
    net, samplers, step = cmo_parts(_net(), data, {'cmo_prob': 0.25}, Precision(), 5)
    assert [type(s).__name__ for s in samplers] == ['UniformSampler', 'MinoritySampler'] and len(samplers[0]) == len(samplers[1])
    assert step.prob == 0.25 and step.beta == 1.0

def test_cmo_runs_end_to_end(toy32, tmp_path):
    torch.set_num_threads(1)
    spec = RunSpec.for_profile('toy32-lt', 'cmo', 'cpu', epochs=5)
    r = run_experiment(spec, ResultStore(tmp_path))
    hist = r['history']['stage1']
    assert len(hist) == 5 and all(math.isfinite(h['loss']) and h['loss'] < 50 for h in hist)
    assert hist[0]['cmo_batches'] == 0 and sum(h['cmo_batches'] for h in hist) > 0   # epoch 0 is outside the window
    for k in ('all', 'many', 'medium', 'few', 'per_class'): assert k in r['metrics']
    assert 0 <= r['metrics']['all'] <= 100 and dict(map(tuple, r['spec']['params']))['cmo_prob'] == 0.5
    assert spec.name != RunSpec.for_profile('toy32-lt', 'cmo', 'cpu', epochs=5, params=(('cmo_prob', 0.0),)).name
