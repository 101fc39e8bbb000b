"BBN (09e_bbn): cumulative alpha, the reversed sampler, the shared trunk and two last blocks, logits and loss by hand, and a run end to end."
import math, sys
from pathlib import Path
import pytest
import torch
import torch.nn.functional as F
sys.path.insert(0, str(Path(__file__).parent))
from test_loop_golden import make_toy32, TOY32
import csa_nb.bbn   # noqa: F401 (registers the method and its step)
from csa_nb.bbn import ReversedSampler, cumulative_alpha, BBNBackbone, BBNNet, BBNStep, bbn_loss, bbn_parts
from csa_nb import data as D, experiments as E
from csa_nb.core import Precision
from csa_nb.experiments import RunSpec, ResultStore, run_experiment, load_trained, ensure_artifacts
from csa_nb.models import ResNet32, build_model
from csa_nb.train import get_method, STEPS


def test_cumulative_alpha_by_hand():
    assert cumulative_alpha(0, 200) == 1.0
    assert cumulative_alpha(100, 200) == 0.75
    assert cumulative_alpha(199, 200) == pytest.approx(1 - (199 / 200) ** 2) == pytest.approx(0.009975)
    assert [cumulative_alpha(e, 5) for e in range(5)] == pytest.approx([1.0, 0.96, 0.84, 0.64, 0.36])
    for bad in ((200, 200), (-1, 200)):
        with pytest.raises(ValueError, match='epoch must be in'): cumulative_alpha(*bad)
    with pytest.raises(ValueError, match='epochs must be >= 1'): cumulative_alpha(0, 0)

def test_reversed_sampler_draws_classes_with_probability_one_over_n():
    labels = torch.tensor([2] * 300 + [0] * 60 + [1] * 12 + [3] * 3)[torch.randperm(375, generator=torch.Generator().manual_seed(1))]
    s = ReversedSampler(labels, 5)
    want = torch.tensor([1 / 60, 1 / 12, 1 / 300, 1 / 3, 0.0], dtype=torch.float64); want /= want.sum()
    assert torch.allclose(s.class_probs, want)
    assert s.class_probs[3] > 0.75 and s.class_probs[4] == 0          # the 3-image class dominates; an empty class is never drawn
    assert len(s) == 375 and len(ReversedSampler(labels, 5, 1000)) == 1000
    assert torch.equal(s.epoch_indices(2, 7), s.epoch_indices(2, 7)) and not torch.equal(s.epoch_indices(2, 7), s.epoch_indices(2, 8))
    drawn = labels[torch.cat([s.epoch_indices(e) for e in range(30)])]
    share = torch.bincount(drawn, minlength=5).double() / len(drawn)
    assert torch.allclose(share, want, atol=0.01)
    with pytest.raises(ValueError, match='at least one'): ReversedSampler(torch.tensor([], dtype=torch.long), 3)

def _tiny(num_classes=3, seed=0):
    torch.manual_seed(seed)
    return BBNNet(BBNBackbone(ResNet32(3, blocks=1, widths=(4, 8, 8))), num_classes)

def test_logits_and_loss_by_hand_on_a_tiny_network():
    net = _tiny().eval()
    bb = net.backbone
    xc, xr = torch.rand(3, 3, 32, 32), torch.rand(3, 3, 32, 32)
    yc, yr = torch.tensor([0, 1, 2]), torch.tensor([2, 2, 1])
    trunk = lambda x: bb.shared(F.relu(bb.bn(bb.conv(x))))
    fc, fr = bb.cb_block(trunk(xc)).mean((2, 3)), bb.rb_block(trunk(xr)).mean((2, 3))
    W, b = net.head.weight, net.head.bias
    for alpha in (1.0, 0.84, 0.5, 0.0):
        z = 2 * alpha * fc @ W[:, :8].T + 2 * (1 - alpha) * fr @ W[:, 8:].T + b
        assert torch.allclose(net.mixed_logits(xc, xr, alpha), z, atol=1e-5)
        logp = z.log_softmax(1)
        want = alpha * -logp[range(3), yc].mean() + (1 - alpha) * -logp[range(3), yr].mean()
        assert bbn_loss(z, yc, yr, alpha).item() == pytest.approx(want.item(), abs=1e-5)
    with torch.no_grad():   # the reported predictor: one image through both branches, alpha = 0.5 (sum of both branches' logits)
        f2c, f2r = bb.cb_block(trunk(xc)).mean((2, 3)), bb.rb_block(trunk(xc)).mean((2, 3))
        assert torch.allclose(net(xc), f2c @ W[:, :8].T + f2r @ W[:, 8:].T + b, atol=1e-5)
        assert torch.allclose(net(xc), net.mixed_logits(xc, xc, 0.5), atol=1e-5)
    # the step: alpha from the epoch, the loss it returns, the epoch's record
    step = BBNStep(net); step.begin_epoch(2, 5)
    assert step.alpha == pytest.approx(0.84)
    loss = step([(xc, yc), (xr, yr)], 2, None)
    z = net.mixed_logits(xc, xr, 0.84)
    assert loss.item() == pytest.approx((0.84 * F.cross_entropy(z, yc) + 0.16 * F.cross_entropy(z, yr)).item(), abs=1e-5)
    rec = step.end_epoch(3)
    assert rec['alpha'] == 0.84 and rec['loss'] == pytest.approx(loss.item(), abs=1e-5)
    assert rec['loss_conventional'] == pytest.approx(F.cross_entropy(z, yc).item(), abs=1e-5)
    assert rec['loss_rebalancing'] == pytest.approx(F.cross_entropy(z, yr).item(), abs=1e-5)
    assert 'alpha 0.840' in step.describe(rec)

def test_branches_share_the_trunk_and_own_their_last_block():
    model = build_model('resnet32', 3, 10, seed=0)
    net = BBNNet(BBNBackbone(model.backbone), 10)
    bb, rn = net.backbone, model.backbone
    shared = [bb.conv.weight, bb.bn.weight, *bb.shared.parameters()]
    assert all(a is b for a, b in zip(shared, [rn.conv.weight, rn.bn.weight, *rn.stages[:-1].parameters()]))
    assert len(bb.shared) == 14 and bb.cb_block is rn.stages[-1]
    cb, rb = list(bb.cb_block.parameters()), list(bb.rb_block.parameters())
    assert len(cb) == len(rb) and not any(a is b for a, b in zip(cb, rb))
    assert not torch.equal(bb.cb_block.conv1.weight, bb.rb_block.conv1.weight)
    assert {id(p) for p in rb}.isdisjoint({id(p) for p in model.parameters()})
    # gradients: each stream reaches the trunk and only its own branch's block
    net.train(); x = torch.rand(2, 3, 32, 32)
    net.mixed_logits(x, x.clone(), 1.0).sum().backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in rb) and all(p.grad is not None for p in cb)
    assert bb.conv.weight.grad is not None and bb.conv.weight.grad.abs().sum() > 0
    net.zero_grad(set_to_none=True)
    bb.branch_feature(x, 'rebalancing').sum().backward()
    assert all(p.grad is None for p in cb) and all(p.grad is not None for p in rb) and bb.conv.weight.grad is not None

def test_factory_and_bad_inputs():
    data = make_toy32()
    net, samplers, step = STEPS['bbn'](build_model('resnet32', 3, 3, seed=0), data, {}, Precision(), 4)
    assert isinstance(net, BBNNet) and isinstance(step, BBNStep) and [type(s).__name__ for s in samplers] == ['UniformSampler', 'ReversedSampler']
    assert len(samplers[0]) == len(samplers[1]) == len(data.train_y)
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 3)
    with pytest.raises(ValueError, match='valid choices: resnet32'): bbn_parts(build_model('lenet2', 1, 3), data, {}, Precision(), 4)
    with pytest.raises(ValueError, match="no parameter 'x'"): bbn_parts(build_model('resnet32', 3, 3), data, {'x': 1}, Precision(), 4)
    with pytest.raises(ValueError, match='valid choices: none'): RunSpec('cifar10-lt', 'bbn', arch='resnet32', params=(('tau', 1.0),))
    m = get_method('bbn')
    assert (m.step, m.paper_row, m.in_table2, m.defaults, m.label) == ('bbn', 'BBN', True, (), 'BBN')

def test_bbn_runs_end_to_end(toy32, tmp_path):
    threads = torch.get_num_threads(); torch.set_num_threads(1)
    try:
        store = ResultStore(tmp_path)
        spec = RunSpec.for_profile('toy32-lt', 'bbn', 'cpu', epochs=5)   # 5 epochs whatever the profile's default
        r = run_experiment(spec, store)
        h = r['history']['stage1']
        assert len(h) == 5 and all(math.isfinite(e['loss']) and e['loss'] < 50 for e in h)
        assert [e['alpha'] for e in h] == pytest.approx([1.0, 0.96, 0.84, 0.64, 0.36])
        assert all(math.isfinite(e['loss_conventional']) and math.isfinite(e['loss_rebalancing']) for e in h)
        assert h[0]['loss'] == pytest.approx(h[0]['loss_conventional'], abs=1e-5)   # alpha = 1: the conventional term only
        assert all(k in r['metrics'] for k in ('all', 'many', 'medium', 'few', 'per_class')) and 0 <= r['metrics']['all'] <= 100
        assert r['spec']['method'] == 'bbn' and r['spec']['params'] is None
        # the saved network loads back through the same factory and gives the reported numbers
        model, data = load_trained(spec, store, 'cpu')
        assert isinstance(model, BBNNet) and not model.training
        from csa_nb.metrics import summarize, predict
        test_prep = E.transforms_for(data)[1]
        assert summarize(predict(model, data.test_x, prepare=test_prep), data.test_y, data.counts, data.groups)['all'] == pytest.approx(r['metrics']['all'])
        # inspection files (features, Grad-CAM) were written, from the two-branch map and the one classifier
        paths = ensure_artifacts(spec, store, 'cpu')
        assert all(p.exists() for p in paths.values())
    finally: torch.set_num_threads(threads)
