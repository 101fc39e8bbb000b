"M2m (major-to-minor translation): the translation crosses a known decision boundary, the objective, slot and acceptance probabilities by hand, the fallback to real minority samples, and a run end to end."
import sys
from pathlib import Path
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import csa_nb.m2m as M   # registers the method (before csa_nb.experiments is imported here)
sys.path.insert(0, str(Path(__file__).parent))
from test_loop_golden import make_toy32, TOY32
from csa_nb import data as D, experiments as E
from csa_nb.experiments import RunSpec, ResultStore, run_experiment, load_trained
from csa_nb.train import get_method


def boundary_net(scale: float = 10.0) -> nn.Linear:
    "Linear classifier of 2-D points: class 1 right of x_a = 0.5, class 0 left of it."
    net = nn.Linear(2, 2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[-scale, 0.], [scale, 0.]])); net.bias.copy_(torch.tensor([scale / 2, -scale / 2]))
    return net


def test_translation_crosses_the_boundary_within_T_steps():
    g, f = boundary_net(), boundary_net()
    x0 = torch.tensor([[0.2, 0.7], [0.05, 0.3]]); k, k0 = torch.tensor([1, 1]), torch.tensor([0, 0])
    with torch.no_grad(): assert g(x0).argmax(1).tolist() == [0, 0]
    for t in range(11):   # each L2-normalised step moves exactly step_size along x_a, clipped at 1
        x = M.translate(g, f, x0, k, k0, iters=t, step_size=0.1, lam=0.5)
        assert torch.allclose(x[:, 0], (x0[:, 0] + 0.1 * t).clamp(max=1.0), atol=1e-5) and torch.equal(x[:, 1], x0[:, 1])
    with torch.no_grad():
        assert g(x).argmax(1).tolist() == [1, 1] and (torch.softmax(g(x), 1)[:, 1] >= 0.9).all()
        assert g(M.translate(g, f, x0, k, k0, iters=3)).argmax(1).tolist() == [0, 0]   # 3 steps are too few: still class 0
    assert g.weight.grad is None and f.weight.grad is None


def test_translation_with_a_normalised_input_clips_in_pixel_space():
    "A random start and the [0, 1] clip happen in pixel space; the networks see the normalised image."
    g, f = boundary_net(), boundary_net()
    mean, std = 0.5, 0.25
    to_input = lambda v: (v - mean) / std
    gi = nn.Sequential(nn.Identity()); gi.forward = lambda z: g(z * std + mean)   # g reads normalised inputs
    fi = nn.Sequential(nn.Identity()); fi.forward = lambda z: f(z * std + mean)
    x0 = torch.tensor([[0.3, 0.9]])
    start = M.random_start(x0, 0.05, torch.Generator().manual_seed(0))
    assert start.norm() <= 0.05 + 1e-6
    x = M.translate(gi, fi, x0, torch.tensor([1]), torch.tensor([0]), iters=10, start=start, to_input=to_input)
    assert x.min() >= 0 and x.max() <= 1 and x[0, 0] == 1.0


def test_objective_by_hand():
    g = torch.tensor([[1., 3.], [0., 0.]]); f = torch.tensor([[2., -1.], [0.5, 4.]])
    got = M.m2m_objective(g, f, torch.tensor([1, 0]), torch.tensor([0, 1]), 0.1)
    want = torch.tensor([torch.log(torch.exp(torch.tensor(1.)) + torch.exp(torch.tensor(3.))) - 3 + 0.1 * 2,
                         torch.log(torch.tensor(2.)) + 0.1 * 4])
    assert torch.allclose(got, want, atol=1e-6)
    # the regulariser alone: a g blind to the input, f's logit of the origin class pushes the seed away from it
    blind = nn.Linear(2, 2); nn.init.zeros_(blind.weight); nn.init.zeros_(blind.bias)
    x0 = torch.tensor([[0.4, 0.4]])
    assert torch.allclose(M.translate(blind, boundary_net(), x0, torch.tensor([1]), torch.tensor([0]), iters=2, lam=1.0), torch.tensor([[0.6, 0.4]]))
    assert torch.equal(M.translate(blind, boundary_net(), x0, torch.tensor([1]), torch.tensor([0]), iters=2, lam=0.0), x0)


def test_slot_and_acceptance_probabilities_by_hand():
    counts = [100, 10, 1]
    y = torch.tensor([0, 1, 2]).repeat(20_000)
    m = M.generation_slots(y, counts, torch.Generator().manual_seed(1))
    freq = torch.stack([m[y == k].float().mean() for k in range(3)])
    assert freq[0] == 0 and abs(freq[1] - 0.9) < 0.01 and abs(freq[2] - 0.99) < 0.005
    p = M.accept_probs(counts, torch.tensor([0, 1, 2]), torch.tensor([2, 1]), 0.999)
    assert torch.allclose(p, torch.tensor([[1 - 0.999 ** 99, 1 - 0.999 ** 9, 0.], [1 - 0.999 ** 90, 0., 0.]]), atol=1e-6)
    rows, seeds, pk = M.choose_seeds(M.accept_probs(counts, torch.tensor([1, 2]), torch.tensor([2, 1]), 0.5), torch.Generator().manual_seed(0))
    assert rows.tolist() == [0] and seeds.tolist() == [0] and torch.allclose(pk, torch.tensor([1 - 0.5 ** 9]))   # target 1 has no larger seed
    with pytest.raises(ValueError, match='m2m_beta'): M.accept_probs(counts, y[:3], y[:3], 1.0)


def test_acceptance_rate_and_fallback_to_real_minority_samples():
    xb = torch.tensor([[0.2, 0.7], [0.3, 0.1], [0.1, 0.4], [0.9, 0.5]]); yb = torch.tensor([0, 0, 0, 1])
    net = M.M2mNet(nn.Linear(2, 2)); net.f.load_state_dict(boundary_net().state_dict())
    st = M.M2mStep(net, [100, 10], at=1, beta=0.99, gamma=0.5, noise=0.0)
    st.begin_epoch(0, 3)
    assert not st.active and not bool(net.g_ready)
    st.begin_epoch(1, 3)
    assert bool(net.g_ready) and torch.equal(net.g.weight, net.f.weight.detach())
    gen, n_replaced = torch.Generator().manual_seed(0), 0
    for _ in range(400):
        out = st.generate(xb, yb, gen)
        assert torch.equal(out[:3], xb[:3])                           # majority slots are never touched
        if not torch.equal(out[3], xb[3]):
            n_replaced += 1
            assert abs(out[3, 0].item() - 1.0) < 1e-5 and any(torch.allclose(out[3, 1], xb[i, 1]) for i in range(3))
        else: assert torch.equal(out[3], xb[3])                       # rejected or not chosen: the real minority sample
    assert st.accepted == n_replaced and st.tried == st.slots
    assert abs(st.slots / 400 - 0.9) < 0.05 and abs(st.accepted / st.tried - (1 - 0.99 ** 90)) < 0.06
    # a translation g does not believe (too few steps for the gamma) is rejected whatever its acceptance probability
    st2 = M.M2mStep(net, [100, 10], at=0, beta=0.0, gamma=0.9, noise=0.0, iters=2); st2.begin_epoch(0, 1)
    for i in range(20): assert torch.equal(st2.generate(xb, yb, torch.Generator().manual_seed(i)), xb)
    assert st2.tried > 0 and st2.accepted == 0
    with pytest.raises(ValueError, match='m2m_lam'): M.M2mStep(net, [2, 1], at=1, lam=-1)


def test_factory_streams_and_schedule():
    from types import SimpleNamespace
    y = torch.cat([torch.full((n,), k) for k, n in enumerate([50, 10, 2])])
    data = SimpleNamespace(train_y=y, num_classes=3, counts=[50, 10, 2], info={})
    net, (s,), step = M.m2m_parts(nn.Linear(2, 3), data, {}, M.Precision(), epochs=10)
    assert isinstance(net, M.M2mNet) and step.at == 8 and len(s) == len(y)
    assert torch.equal(torch.sort(s.epoch_indices(3, 0)).values, torch.arange(len(y)))   # uniform: a permutation
    late = torch.cat([y[s.epoch_indices(e, 0)] for e in range(8, 10)])                     # class-balanced over-sampling
    assert all(abs((late == k).float().mean().item() - 1 / 3) < 0.12 for k in range(3))
    with pytest.raises(ValueError, match='defer_at'): M.m2m_parts(nn.Linear(2, 3), data, {'defer_at': 0.05}, M.Precision(), epochs=10)




def test_m2m_runs_end_to_end_and_is_ce_until_the_switch(toy32, tmp_path):
    torch.set_num_threads(1)
    store = ResultStore(tmp_path)
    ce = run_experiment(RunSpec.for_profile('toy32-lt', 'ce', 'cpu'), store)
    spec = RunSpec.for_profile('toy32-lt', 'm2m', 'cpu')
    r = run_experiment(spec, store)
    h = r['history']['stage1']
    assert len(h) == 5 and all(x['loss'] == x['loss'] and x['loss'] < 50 for x in h)
    assert all(v == v for v in (r['metrics'][k] for k in ('all', 'many', 'medium', 'few')))
    assert [x['loss'] for x in h[:4]] == [x['loss'] for x in ce['history']['stage1'][:4]]   # ERM, bit for bit, before E = 4
    assert all(x['m2m_slots'] == 0 for x in h[:4]) and h[4]['m2m_slots'] > 0
    assert dict(r['spec']['params'])['m2m_beta'] == 0.999 and get_method('m2m').paper_row == 'M2m'
    model, _ = load_trained(spec, store, 'cpu')   # g is in the saved model
    assert isinstance(model, M.M2mNet) and bool(model.g_ready)
    # easy acceptance (beta 0.5, gamma 0): translations do enter the batches of the generation epoch
    easy = run_experiment(RunSpec.for_profile('toy32-lt', 'm2m', 'cpu', params=(('m2m_beta', 0.5), ('m2m_gamma', 0.0))), store)
    e = easy['history']['stage1']
    assert e[4]['m2m_accepted'] > 0 and e[4]['m2m_accepted'] <= e[4]['m2m_tried'] <= e[4]['m2m_slots']
    assert all(x['loss'] == x['loss'] for x in e) and easy['metrics']['all'] >= 0
