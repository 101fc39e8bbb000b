"CSA on a user's own data: the image-folder dataset, the torchvision backbones, and ContextShift in a hand-written loop."
from pathlib import Path
import numpy as np
import pytest
import torch
from PIL import Image
from csa_nb import data as D
from csa_nb.metrics import summarize
from csa_nb.models import build_model, ARCHS
from csa_nb.csa import CSANet, masks_and_fit
from csa_nb.own_data import build_folder_dataset, ContextShift, class_balanced_weights, arch_for_image_size

# class name -> training images; alphabetical order differs from frequency order, with a tie (c_med, d_med)
TRAIN = {'a_few': 5, 'b_many': 101, 'c_med': 20, 'd_med': 20, 'e_few': 19}
TEST = {'a_few': 2, 'b_many': 3, 'c_med': 1, 'e_few': 2}      # d_med has no test images
COLOURS = {'a_few': (255, 0, 0), 'b_many': (0, 255, 0), 'c_med': (0, 0, 255), 'd_med': (255, 255, 0), 'e_few': (0, 255, 255)}

def _write(path: Path, colour, size, k):
    "A flat image of `colour` with a little per-file noise; sizes vary, JPEG for every third file."
    rng = np.random.RandomState(k)
    w, h = size
    a = np.clip(np.array(colour)[None, None] + rng.randint(-10, 11, (h, w, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path.with_suffix('.jpg' if k % 3 == 0 else '.png'))

def make_folder(root: Path, split='test', train=TRAIN, test=TEST):
    "Mostly 32 px images, some 64 px and a non-square 72 x 48 one per class."
    for s, spec in (('train', train), (split, test)):
        for c, n in spec.items():
            for i in range(n):
                size = (32, 32) if i % 4 else ((64, 64) if i % 8 == 0 else (72, 48))
                _write(root / s / c / f'{i:03d}', COLOURS[c], size, i)
    return root

@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp('own') / 'mine')

def test_counts_groups_and_relabel_order(folder):
    d = build_folder_dataset(folder)
    assert d.info['classes'] == ['b_many', 'c_med', 'd_med', 'e_few', 'a_few']   # descending count, the tie by name
    assert d.counts == [101, 20, 20, 19, 5] and d.num_classes == 5
    assert torch.bincount(d.train_y, minlength=5).tolist() == d.counts
    assert d.groups == {'many': (0, 1), 'medium': (1, 3), 'few': (3, 5)}       # > 100, 20..100, < 20
    assert d.info['test_counts'] == [3, 1, 0, 2, 2]
    assert d.info['image_size'] == 32 and tuple(d.train_x.shape) == (165, 3, 32, 32) and d.train_x.dtype == torch.uint8
    assert tuple(d.test_x.shape) == (8, 3, 32, 32) and d.info['split'] == 'test'
    # labels follow the relabelling: every image of the new class 0 is the green one (b_many), class 4 the red one (a_few)
    mean_rgb = lambda k: d.train_x[d.train_y == k].double().mean((0, 2, 3)).round().tolist()
    assert mean_rgb(0)[1] > 240 and mean_rgb(0)[0] < 15 and mean_rgb(4)[0] > 240 and mean_rgb(4)[1] < 15
    assert (d.test_y == 1).sum() == 1 and d.test_x[d.test_y == 1].double().mean((0, 2, 3))[2] > 240    # c_med is blue
    mean = (d.train_x.double() / 255).mean((0, 2, 3))
    assert np.allclose(d.info['mean'], mean.tolist(), atol=1e-4)
    assert np.allclose(d.info['std'], (d.train_x.double() / 255).std((0, 2, 3), unbiased=False).tolist(), atol=1e-4)
    assert d.source == 'image folder mine (train/ and test/ as the test split)' and str(folder.parent) not in d.source and d.name == 'folder:mine'

def test_groups_work_with_summarize(folder):
    d = build_folder_dataset(folder)
    logits = torch.nn.functional.one_hot(d.test_y, 5).float()     # a perfect predictor ...
    logits[d.test_y == 3] = torch.nn.functional.one_hot(torch.tensor(0), 5).float()   # ... except on e_few (a few class)
    s = summarize(logits, d.test_y, d.counts, d.groups)
    assert s['many'] == 100.0 and s['medium'] == 100.0 and s['few'] == 50.0       # d_med has no test images: skipped
    assert (s['many'], s['medium'], s['few']) == (s['many_by_count'], s['medium_by_count'], s['few_by_count'])

def test_image_size_and_build_dataset_entry(folder, tmp_path):
    d = D.build_dataset(f'folder:{folder}', image_size=64)
    assert tuple(d.train_x.shape) == (165, 3, 64, 64) and d.counts == [101, 20, 20, 19, 5]
    assert D.check_dataset_name(f'folder:{folder}') == f'folder:{folder}'
    with pytest.raises(ValueError, match='names no folder'): D.check_dataset_name('folder:')
    with pytest.raises(ValueError, match='valid choices: cifar10-lt, cifar100-lt, cmnist-lt, fashion-lt, imagenet-lt, mnist-lt, places-lt, or folder:PATH'):
        D.build_dataset('my-images')
    big = make_folder(tmp_path / 'big', train={'a_few': 3, 'b_many': 5}, test={'a_few': 1})
    for f in (big / 'train').rglob('*'):   # make every training image 96 x 80: the default size is the median shorter side (80)
        if f.is_file(): Image.new('RGB', (96, 80), (9, 9, 9)).save(f)
    b = build_folder_dataset(big)
    assert b.info['image_size'] == 80 and tuple(b.train_x.shape) == (8, 3, 80, 80) and tuple(b.test_x.shape) == (1, 3, 80, 80)
    assert b.groups == {'many': (0, 0), 'medium': (0, 0), 'few': (0, 2)} and b.info['classes'] == ['b_many', 'a_few']

def test_val_split_is_the_test_split_when_there_is_no_test(tmp_path):
    v = build_folder_dataset(make_folder(tmp_path / 'v', split='val', train={'a_few': 4, 'c_med': 2}, test={'c_med': 1}))
    assert v.info['split'] == 'val' and 'val/ as the test split' in v.source and v.test_y.tolist() == [1]

def test_error_messages(tmp_path):
    with pytest.raises(D.DatasetUnavailable, match=r'does not exist \(expected PATH/train/<class>/<image>'):
        build_folder_dataset(tmp_path / 'missing')
    (tmp_path / 'notrain' / 'images').mkdir(parents=True); (tmp_path / 'notrain' / 'other').mkdir()
    with pytest.raises(ValueError, match='holds no train/ folder'): build_folder_dataset(tmp_path / 'notrain')
    nosplit = make_folder(tmp_path / 'nosplit', train={'a_few': 2}, test={})
    with pytest.raises(D.DatasetUnavailable, match='no test/ or val/ folder'): build_folder_dataset(nosplit)
    empty = make_folder(tmp_path / 'empty', train={'a_few': 2}, test={'a_few': 1})
    (empty / 'train' / 'zebra').mkdir(); (empty / 'train' / 'zebra' / 'readme.txt').write_text('no images here')
    with pytest.raises(ValueError, match=r'empty class folder .*train/zebra'): build_folder_dataset(empty)
    bad = make_folder(tmp_path / 'bad', train={'a_few': 2}, test={'a_few': 1})
    (bad / 'train' / 'a_few' / 'zz.png').write_bytes(b'\x89PNG but not really')
    with pytest.raises(ValueError, match=r'unreadable image .*zz\.png'): build_folder_dataset(bad)
    with pytest.raises(ValueError, match=r'unreadable image .*zz\.png'): build_folder_dataset(bad, image_size=16)
    stray = make_folder(tmp_path / 'stray', train={'a_few': 2}, test={'a_few': 1, 'b_many': 1})
    with pytest.raises(ValueError, match="test class 'b_many'"): build_folder_dataset(stray)

def test_torchvision_backbones_expose_forward_map():
    assert {'resnet10', 'resnet18', 'resnet10-cifar', 'resnet18-cifar', 'resnet32'} <= set(ARCHS)
    m = build_model('resnet18', 3, 5, seed=0)
    x = torch.rand(2, 3, 64, 64)
    fmap = m.backbone.forward_map(x)
    assert fmap.shape == (2, 512, 2, 2) and m.backbone.feat_dim == 512 and m(x).shape == (2, 5)
    assert torch.allclose(m.backbone(x), fmap.mean((2, 3)), atol=1e-6)
    assert build_model('resnet10', 1, 3).backbone.forward_map(torch.rand(1, 1, 128, 128)).shape == (1, 512, 4, 4)
    assert build_model('resnet10-cifar', 3, 3).backbone.forward_map(torch.rand(1, 3, 32, 32)).shape == (1, 512, 4, 4)
    assert [arch_for_image_size(s) for s in (32, 64, 224)] == ['resnet32', 'resnet18-cifar', 'resnet18']
    net = CSANet(m.backbone, 5); net.train()
    masks, p = masks_and_fit(net, x, torch.tensor([0, 3]))
    assert masks.shape == (2, 1, 64, 64) and float(masks.min()) >= 0 and float(masks.max()) <= 1 and net.training
    assert p.shape == (2,) and bool(((p > 0) & (p < 1)).all())

def _toy(n_per_class, size=64, seed=0):
    "Class k = a bright square in corner k of a dark noisy image: learnable in a few steps."
    g = torch.Generator().manual_seed(seed)
    y = torch.cat([torch.full((n,), k) for k, n in enumerate(n_per_class)])
    x = torch.rand(len(y), 3, size, size, generator=g) * 0.3
    h = size // 2
    for k, (r, c) in enumerate([(0, 0), (0, h), (h, 0)]): x[y == k, :, r:r + h, c:c + h] += 0.7
    return (x - 0.5) / 0.25, y

def test_context_shift_in_a_hand_written_loop():
    torch.manual_seed(0)
    x, y = _toy([24, 8, 4])
    csa = ContextShift(build_model('resnet10', 3, 3).backbone, 3, bank_size=8, fit_threshold=0.5, start_epoch=1)
    opt = torch.optim.Adam(csa.parameters(), lr=1e-3)
    w = class_balanced_weights(y)
    g = torch.Generator().manual_seed(0)
    log = []
    for epoch in range(3):
        for step in range(4):
            iu = torch.randint(0, len(y), (8,), generator=g)
            ib = torch.multinomial(w, 8, replacement=True, generator=g)
            loss = csa(x[iu], y[iu], x[ib], y[ib], epoch)
            opt.zero_grad(); loss.backward(); opt.step()
            if step == 0: assert csa.bank.seen == 8      # the bank was emptied at the epoch start
            log.append((epoch, csa.last['loss_uniform'], csa.last['loss_balanced'], len(csa.bank)))
    first, last = np.mean([l for e, l, _, _ in log if e == 0]), np.mean([l for e, l, _, _ in log if e == 2])
    assert last < 0.5 * first, (first, last)
    assert all(b is None for e, _, b, _ in log if e == 0)                      # before start_epoch: no balanced branch
    assert max(n for e, _, _, n in log if e >= 1) > 0                           # the bank fills after start_epoch ...
    assert any(b is not None for e, _, b, _ in log if e >= 1)                   # ... and the context-shifted branch runs
    assert (csa.predict(x).argmax(1) == y).float().mean() > 0.6
    csa.new_epoch(); assert len(csa.bank) == 0

def test_context_shift_rejects_a_backbone_without_a_feature_map():
    class Flat(torch.nn.Module):
        feat_dim = 3
        def forward(self, x): return x.mean((2, 3))
    with pytest.raises(ValueError, match='needs forward_map'): ContextShift(Flat(), 2)
    with pytest.raises(ValueError, match='num_classes'): ContextShift(build_model('resnet10', 3, 2).backbone)

def _square_folder(root: Path, size: int, train=(30, 10, 4), test=3) -> Path:
    "Three classes, each a coloured square on noise at `size` px: learnable from a few images."
    for split, counts in (('train', train), ('test', (test,) * len(train))):
        for k, n in enumerate(counts):
            for i in range(n):
                rng = np.random.RandomState(1000 * k + i + (7 if split == 'test' else 0))
                a = rng.randint(0, 60, (size, size, 3)).astype(np.uint8)
                a[size // 4: 3 * size // 4, size // 4: 3 * size // 4, k] = 250
                (root / split / f'class{k}').mkdir(parents=True, exist_ok=True)
                Image.fromarray(a).save(root / split / f'class{k}' / f'{i}.png')
    return root

@pytest.mark.parametrize('size,arch,given', [(32, 'resnet32', False), (64, 'resnet18', True)])
def test_csa_run_trains_csa_on_an_image_folder(size, arch, given, tmp_path, capsys):
    "csa-run train --dataset folder:PATH --method csa --profile smoke: All/Many/Medium/Few, a backbone for the image size (or --arch), no local path."
    import json
    from csa_nb.pipeline import main
    torch.set_num_threads(1)
    root = _square_folder(tmp_path / f'squares{size}', size)
    arch_arg = ['--arch', arch] if given else []   # 64 px: torchvision's ResNet-18 by --arch (the default there, resnet18-cifar, is 16x the work)
    assert main(['train', '--dataset', f'folder:{root}', '--method', 'csa', '--profile', 'smoke', *arch_arg, '--out', str(tmp_path / 'out')]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r['spec']['arch'] == arch and r['spec']['image_size'] == size and r['spec']['dataset'] == f'folder:squares{size}'
    assert r['name'].startswith(f'folder-squares{size}-csa-s0-') and set(r['metrics']) >= {'all', 'many', 'medium', 'few'}
    assert r['dataset']['counts'] == [30, 10, 4] and r['metrics_predictor'] == 'balanced'
    assert len(r['history']['stage1']) == 2 and r['history']['stage1'][0]['balanced_samples'] == 0   # CSA starts at epoch 1 (of 2)
    assert str(tmp_path) not in (tmp_path / 'out' / 'runs' / r['name'] / 'result.json').read_text()

def test_folder_options_are_checked(tmp_path, capsys):
    from csa_nb.pipeline import main
    assert main(['train', '--dataset', 'mnist-lt', '--method', 'ce', '--arch', 'resnet18']) == 2
    assert '--arch and --image-size are for image folders' in capsys.readouterr().err
    assert main(['train', '--dataset', f'folder:{tmp_path / "nothing"}', '--method', 'ce', '--out', str(tmp_path)]) in (2, 3)
    assert 'nothing' in capsys.readouterr().err
