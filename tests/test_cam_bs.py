"CAM-BS (09g_cam_bs): the CAM foreground of a known object, the transform that moves it over a kept background, the switch at E, end to end."
import copy, sys
from pathlib import Path
from types import SimpleNamespace
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import csa_nb.cam_bs as C   # registers the method and its step
sys.path.insert(0, str(Path(__file__).parent))
from test_loop_golden import make_toy32, TOY32
from csa_nb import data as D, experiments as E
from csa_nb.core import Precision
from csa_nb.experiments import RunSpec, ResultStore, run_experiment, load_trained
from csa_nb.models import Net, ResNet32
from csa_nb.train import train_loop, get_method, STEPS

class RedDetector(nn.Module):
    "A fixed stage-1 backbone: red - (green + blue) / 2, 4 x 4 average-pooled (32 x 32 -> 8 x 8)."
    def __init__(self):
        super().__init__(); self.conv = nn.Conv2d(3, 1, 1, bias=False); self.feat_dim = 1
        with torch.no_grad(): self.conv.weight.copy_(torch.tensor([1.0, -0.5, -0.5]).view(1, 3, 1, 1))
    def forward_map(self, x): return F.avg_pool2d(self.conv(x), 4)
    def forward(self, x): return self.forward_map(x).mean((2, 3))

def scene(n=1, top=12, left=16, side=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 32, 32, generator=g) * torch.tensor([0.1, 0.2, 0.2]).view(1, 3, 1, 1) + torch.tensor([0.0, 0.4, 0.4]).view(1, 3, 1, 1)
    obj = torch.zeros(32, 32, dtype=torch.bool); obj[top:top + side, left:left + side] = True
    x[:, :, obj] = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1)
    return x, obj

def red(im): return (im[:, 0] == 1) & (im[:, 1] == 0) & (im[:, 2] == 0)

def detector_net():
    net = C.CamBSNet(RedDetector(), nn.Linear(1, 2))
    with torch.no_grad(): net.head.weight.copy_(torch.tensor([[1.0], [-1.0]])); net.head.bias.zero_()
    net.freeze_stage1()
    return net

def test_cam_foreground_is_the_object_and_the_transform_moves_it_over_a_kept_background():
    x, obj = scene()
    net = detector_net()
    fmap = net.stage1['backbone'].forward_map(x)
    cam = torch.einsum('nc,nchw->nhw', net.stage1['head'].weight[[0]], fmap)
    peak = int(cam[0].flatten().argmax()); assert obj[::4, ::4].flatten()[peak]          # the CAM's peak is on the object
    fg = net.foreground(x, torch.tensor([0]))
    near = F.max_pool2d(obj[None, None].float(), 5, 1, 2)[0, 0].bool()
    assert bool(fg[0][obj].all()) and not bool((fg[0] & ~near).any())                   # the object, at most 2 px wider
    assert C.foreground_box(fg).tolist() == [[10, 21, 14, 25]]
    # a known translation: the object's pixels move, every background pixel outside F | T(F) is kept
    out, region = C.paste_transformed(x, fg, *C.shift_maps(torch.tensor([[-12.0, 8.0]])))
    moved = torch.zeros_like(obj); moved[20:28, 4:12] = True
    assert torch.equal(red(out)[0], moved)
    assert torch.equal(out[0][:, ~region[0]], x[0][:, ~region[0]]) and int((~region[0]).sum()) > 600
    assert not torch.equal(out[0][:, obj], x[0][:, obj])                                 # the object's old place is refilled
    # random transforms: translations and flips keep the whole object inside the image; the background outside the region stays
    xs, ys = x.expand(30, 3, 32, 32).clone(), torch.zeros(30, dtype=torch.long)
    fgs = net.foreground(xs, ys)
    kind, M, t = C.random_cam_maps(fgs, torch.Generator().manual_seed(0))
    outs, regions = C.paste_transformed(xs, fgs, M, t)
    assert set(kind.tolist()) == {0, 1, 2}
    assert (red(outs).sum((1, 2))[kind > 0] == 64).all()
    for i in range(30): assert torch.equal(outs[i][:, ~regions[i]], xs[i][:, ~regions[i]])
    assert torch.equal(C.random_cam_maps(fgs, torch.Generator().manual_seed(0))[1], M)    # replayable from the generator

def test_generation_share_and_bad_input():
    q = C.cam_generation_share([5000, 500, 50])
    assert torch.allclose(q, torch.tensor([1 - 5000 / 5050, 1 - 500 / 5050, 1 - 50 / 5050]))
    with pytest.raises(ValueError, match='at least one image'): C.cam_generation_share([3, 0])
    with pytest.raises(ValueError, match='forward_map'): C.CamBSNet(nn.Linear(2, 2), nn.Linear(2, 2))
    with pytest.raises(ValueError, match='at least one pixel'): C.foreground_box(torch.zeros(1, 4, 4, dtype=torch.bool))

def test_switch_at_the_defer_epoch():
    "Before E: uniform permutations, plain CE on the batch as given; from E: class-balanced draws, CAM-generated images, stage 1 frozen at E."
    torch.set_num_threads(1)
    counts = [40, 16, 8]; g = torch.Generator().manual_seed(0)
    ty = torch.cat([torch.full((n,), k) for k, n in enumerate(counts)])
    tx = (torch.rand(len(ty), 3, 16, 16, generator=g) * 80).to(torch.uint8)
    for i, k in enumerate(ty.tolist()): tx[i, k, 4:12, 4:12] = 250
    data = SimpleNamespace(train_y=ty, num_classes=3, counts=counts)
    torch.manual_seed(0)
    net, (sampler,), step = C.cam_bs_parts(Net(ResNet32(3, blocks=1), 3), data, {}, Precision(), epochs=5)
    assert step.at == 4 and sampler.at == 4
    seen = {}
    class Spy(nn.Module):   # records what the trained network is fed
        def __init__(self, net): super().__init__(); self.net = net
        def forward(self, x): seen.setdefault(cur[0], []).append(x.detach().clone()); return self.net(x)
    cur = [0]; step.model = Spy(net)
    heads = {}
    prep = lambda xb, g: (xb.float() / 255 - 0.5) / 0.25
    def end(e, rec): heads[e] = net.head.weight.detach().clone(); cur[0] = e + 1
    hist = train_loop(net, tx, ty, [sampler], step, epochs=5, lr_fn=lambda e: 0.05, batch_size=16, momentum=0.9, prepare=prep, on_epoch_end=end)
    assert [h['generated'] for h in hist[:4]] == [0, 0, 0, 0] and hist[4]['generated'] > 0
    # before E the network saw exactly the prepared uniform batches (crop-free prepare here: the images themselves, permuted)
    before = torch.cat(seen[3]); order = sampler.epoch_indices(3, 0)
    assert torch.equal(before, prep(tx[order], None))
    after = torch.cat(seen[4]); drawn = sampler.epoch_indices(4, 0)
    changed = (after != prep(tx[drawn], None)).flatten(1).any(1)
    assert 0 < int(changed.sum()) <= hist[4]['generated']                # a replaced image can, rarely, come out unchanged
    assert changed.any() and changed[ty[drawn] == 2].float().mean() > changed[ty[drawn] == 0].float().mean()   # tail replaced more
    assert torch.equal(net.stage1['head'].weight, heads[3]) and not torch.equal(net.head.weight, heads[3])
    many = torch.cat([sampler.epoch_indices(e, 0) for e in range(4, 40)])
    assert torch.allclose(torch.bincount(ty[many], minlength=3).float() / len(many), torch.full((3,), 1 / 3), atol=0.03)


def test_cam_bs_end_to_end(toy32, tmp_path):
    torch.set_num_threads(1)
    m = get_method('cam-bs')
    assert m.step == 'cam-bs' and STEPS['cam-bs'] is C.cam_bs_parts and m.paper_row == 'CAM-BS' and m.in_table2
    store = ResultStore(tmp_path)
    spec = RunSpec.for_profile('toy32-lt', 'cam-bs', 'cpu', epochs=5)
    r = run_experiment(spec, store)
    ce = run_experiment(RunSpec.for_profile('toy32-lt', 'ce', 'cpu', epochs=5), store)
    h, hc = r['history']['stage1'], ce['history']['stage1']
    assert len(h) == 5 and all(x['loss'] == x['loss'] and x['loss'] < 50 for x in h)
    assert [x['loss'] for x in h[:4]] == [x['loss'] for x in hc[:4]]      # CE until the switch at int(0.8 x 5) = 4 ...
    assert h[4]['generated'] > 0 and h[4]['loss'] != hc[4]['loss']       # ... then the balanced, CAM-generated stream
    assert all(r['metrics'][k] == r['metrics'][k] and 0 <= r['metrics'][k] <= 100 for k in ('all', 'many', 'medium', 'few'))
    assert [list(p) for p in r['spec']['params']] == [['cam_threshold', 0.75], ['defer_at', 0.8]]
    model, _ = load_trained(spec, store, 'cpu')                          # the factory rebuilds the network, stage-1 copy included
    assert isinstance(model, C.CamBSNet) and not model.stage1.training
