"ImageNet-LT / Places-LT: the datasets over a generated long-tailed JPEG tree, the lazy image source, the batched 224 px augmentation, the ResNet-50 and frozen ResNet-152 backbones, the protocols, and `csa-run train --profile smoke`."
import json, time, urllib.error
import numpy as np
import pytest
import torch
from csa_nb import images as I, oltr as O, models as M
from csa_nb.data import DatasetUnavailable, build_dataset
from csa_nb.experiments import RunSpec, lr_schedule, transforms_for
from csa_nb.pipeline import main, plan_runs

# 24 classes, 110 images down to 2, JPEGs of 64 to 500 px; the lists number the classes in scrambled order
COUNTS = [110, 60, 40, 25, 20, 19, 15, 12, 10, 9, 8, 7, 6, 5, 5, 4, 4, 3, 3, 3, 2, 2, 2, 2]
LISTS = ('ImageNet_LT_train.txt', 'ImageNet_LT_test.txt')

@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    "One generated ImageNet-LT-shaped tree for the whole module (train/cNN/*.jpg, val/cNN/*.jpg and the two lists in its root)."
    return I.write_lt_tree(tmp_path_factory.mktemp('imagenet') / 'ilsvrc', COUNTS, n_test=2, list_names=LISTS, sizes=(64, 500))

@pytest.fixture
def env(tree, tmp_path, monkeypatch):
    "IMAGENET_ROOT at the tree, empty CSA_DATA / CSA_OUTPUTS, no mirror, images read without worker processes."
    monkeypatch.setenv('IMAGENET_ROOT', str(tree))
    monkeypatch.setenv('CSA_DATA', str(tmp_path / 'data'))
    monkeypatch.setenv('CSA_OUTPUTS', str(tmp_path / 'outputs'))
    monkeypatch.delenv('CSA_DATA_MIRROR', raising=False)
    monkeypatch.setenv('CSA_IMAGE_WORKERS', '0')
    return tree

def test_dataset_relabels_groups_and_provenance(env):
    d = build_dataset('imagenet-lt')
    assert d.num_classes == 1000 and d.counts[:24] == COUNTS and sum(d.counts) == len(d.train_y) == sum(COUNTS)
    assert np.bincount(d.test_y.numpy(), minlength=1000)[:24].tolist() == [2] * 24
    assert d.groups == {'many': (0, 390), 'medium': (390, 835), 'few': (835, 1000)}          # the authors' ranges
    # by count: > 100 -> 110; 20..100 -> 60, 40, 25, 20; < 20 -> the other 19 listed classes and the 976 without images
    assert d.info['group_sizes'] == {'index': {'many': 390, 'medium': 445, 'few': 165}, 'count': {'many': 1, 'medium': 4, 'few': 995}}
    assert d.info['classes'][:3] == ['c00', 'c01', 'c02'] and d.info['image_size'] == 224 and d.info['load_size'] == 256
    assert d.source.startswith('OLTR split lists (train: given folder, ImageNet_LT_train.txt, md5 ')
    md5 = O.file_digest(env / LISTS[0])['md5']
    assert md5 in d.source and '$IMAGENET_ROOT' in d.source and str(env) not in d.source
    # the sources index like uint8 tensors on the device, one listed file per row
    x = d.train_x
    assert x.shape == (sum(COUNTS), 3, 256, 256) and x.device == torch.device('cpu') and d.in_channels == 3
    rows = torch.tensor([0, 5, len(x) - 1])
    assert torch.equal(x[rows], torch.from_numpy(I.load_batch([x.files[i] for i in rows.tolist()], 256)))
    assert x[rows].dtype == torch.uint8 and x[3:5].shape == (2, 3, 256, 256)
    folder_count = lambda f: COUNTS[int(f.split('/')[-2][1:])]    # a file's class, by its folder, and that class's size
    assert all(folder_count(f) == d.counts[int(k)] for f, k in zip(x.files, d.train_y))   # labels follow the files (ties: either order)
    small = build_dataset('imagenet-lt', image_size=32, subset=10)
    assert small.counts[:10] == [10] * 9 + [9] and small.train_x.shape[1:] == (3, 37, 37) and len(small.test_y) == 48

def test_errors_name_the_variable_or_file(env, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv('IMAGENET_ROOT')
    with pytest.raises(DatasetUnavailable, match='set IMAGENET_ROOT to the folder holding'): build_dataset('imagenet-lt')
    assert main(['train', '--dataset', 'imagenet-lt', '--method', 'ce', '--profile', 'smoke', '--out', str(tmp_path / 'o')]) == 3
    err = capsys.readouterr().err.strip()
    assert 'IMAGENET_ROOT' in err and '\n' not in err
    # --arch is accepted for ImageNet-LT (ResNet-50 instead of ResNet-10): the run gets as far as the missing root
    assert main(['train', '--dataset', 'imagenet-lt', '--method', 'ce', '--arch', 'resnet50', '--out', str(tmp_path / 'o')]) == 3
    assert 'IMAGENET_ROOT' in capsys.readouterr().err
    assert main(['train', '--dataset', 'imagenet-lt', '--method', 'ce', '--arch', 'resnet99', '--out', str(tmp_path / 'o')]) == 2
    assert 'resnet50' in capsys.readouterr().err   # an unknown backbone lists the valid ones
    monkeypatch.setenv('PLACES_ROOT', str(tmp_path / 'nowhere'))
    with pytest.raises(DatasetUnavailable, match=r'nowhere \(\$PLACES_ROOT\) is not a folder'): build_dataset('places-lt')
    monkeypatch.setenv('PLACES_ROOT', str(tmp_path))              # a folder without lists, none in CSA_DATA, no mirror: a download
                                                                  # is tried (conftest points it at a file:// folder that is not there)
    with pytest.raises(FileNotFoundError, match='split list Places_LT_train.txt could not be downloaded'): build_dataset('places-lt')
    broken = tmp_path / 'broken'; broken.mkdir()
    for f in LISTS: (broken / f).write_text((env / f).read_text())
    with pytest.raises(DatasetUnavailable, match=r'listed in ImageNet_LT_train\.txt are missing under the image root .*broken, e\.g\. train/c'):
        build_dataset('imagenet-lt', root=broken)
    with pytest.raises(ValueError, match=r"imagenet-lt takes no option 'images'"): build_dataset('imagenet-lt', images='x.tar')

def test_image_files_read_ahead_as_the_loop_asks(env):
    files = sorted((env / 'train').glob('c0[0-2]/*.jpg'))[:12]
    ref = torch.from_numpy(I.load_batch([str(f) for f in files], 24))
    src = I.ImageFiles(files, 24, workers=2)
    try:
        idx = [torch.randperm(12, generator=torch.Generator().manual_seed(0)), torch.arange(12).flip(0)]
        src.plan_epoch(idx, 5)
        for b in range(3):   # train_loop's order: batch b of stream 0, then of stream 1
            lead = idx[0][b * 5:(b + 1) * 5]
            assert torch.equal(src[lead], ref[lead])
            assert torch.equal(src[idx[1][b * 5:(b + 1) * 5][:len(lead)]], ref[idx[1][b * 5:(b + 1) * 5]])
        assert dict(src.stats) == {'planned': 6}
        assert torch.equal(src[[7, 7]], ref[[7, 7]]) and src.stats['direct'] == 1   # unplanned: loaded on request
        assert torch.equal(torch.cat([src[i:i + 4] for i in range(0, 12, 4)]), ref) and src.stats['planned'] == 8
        src.plan_epoch(idx, 5); src.cancel()                                        # a new plan or a cancel drops the queue
        assert torch.equal(src[idx[0][:5]], ref[idx[0][:5]])
    finally: src.close()
    with pytest.raises(IndexError, match='index 12 out of range for 12 images'): src[torch.tensor([12])]

def test_augmentation_geometry_flip_jitter_normalisation():
    # a crop box of known geometry gives the box's own pixels (roi_align at pixel centres)
    img = torch.arange(3 * 20 * 30, dtype=torch.float32).view(1, 3, 20, 30)
    out = I.crop_resize(img, torch.tensor([[7., 4., 19., 16.]]), 12)
    assert torch.allclose(out[0], img[0, :, 4:16, 7:19], atol=1e-3)
    assert torch.allclose(I.crop_resize(img, torch.tensor([[0., 0., 30., 20.]]), 10)[0, 0, 0, 0], img[0, 0, :2, :3].mean(), atol=1e-3)
    assert torch.equal(I.hflip(torch.cat([img, img]), torch.tensor([False, True]))[1], img[0].flip(-1))
    # boxes follow RandomResizedCrop's rules; the generator alone decides them
    b = I.rrc_boxes(4000, 256, 320, torch.Generator().manual_seed(1))
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    assert (b[:, 0] >= 0).all() and (b[:, 2] <= 320).all() and (b[:, 3] <= 256).all()
    assert (w * h >= 0.079 * 256 * 320).all() and ((w / h) > 0.74).all() and ((w / h) < 1.35).all()
    assert torch.equal(b, I.rrc_boxes(4000, 256, 320, torch.Generator().manual_seed(1)))
    # brightness / contrast / saturation as torchvision's functions, each image in its own order
    import torchvision.transforms.functional as TF
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    fac, order = torch.tensor([[1.3, 0.7, 0.6], [0.8, 1.4, 1.2], [1.0, 1.0, 0.65]]), torch.tensor([[0, 1, 2], [2, 0, 1], [1, 2, 0]])
    ops = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation)
    want = []
    for i in range(3):
        y = x[i]
        for op in order[i].tolist(): y = ops[op](y, float(fac[i, op]))
        want.append(y)
    assert torch.allclose(I.color_jitter(x, fac, order), torch.stack(want), atol=1e-5)
    # normalisation: a flat grey 128 after the test transform is (128/255 - mean) / std; the centre crop starts at 16 of 256
    tr, te = I.imagenet_transforms(224)
    grey = te(torch.full((2, 3, 256, 256), 128, dtype=torch.uint8))
    assert grey.shape == (2, 3, 224, 224)
    assert torch.allclose(grey[0, :, 0, 0], torch.tensor([0.0741, 0.2052, 0.4265]), atol=1e-4)
    ramp = torch.arange(256).expand(1, 3, 256, 256).to(torch.uint8)
    assert torch.allclose(te(ramp)[0, 0, 0] * 0.229 + 0.485, torch.arange(16, 240) / 255, atol=1e-5)
    a, b2 = tr(ramp.repeat(4, 1, 1, 1), torch.Generator().manual_seed(5)), tr(ramp.repeat(4, 1, 1, 1), torch.Generator().manual_seed(5))
    assert a.shape == (4, 3, 224, 224) and torch.equal(a, b2)

def test_resnet50_and_frozen_resnet152(monkeypatch, tmp_path):
    r50 = M.build_model('resnet50', 3, 10)
    assert r50.backbone.feat_dim == 2048 and r50.backbone.forward_map(torch.rand(1, 3, 64, 64)).shape == (1, 2048, 2, 2)
    fr = M.FrozenResNet152(weights=None)                                                   # nothing loaded or downloaded
    net = M.kaiming_init_(M.Net(fr, 7)); net.train()
    assert not fr.frozen.training and fr.block.training
    assert {n.split('.')[0] for n, p in net.named_parameters() if p.requires_grad} == {'backbone', 'head'}
    assert all(n.startswith('backbone.block.') for n, p in net.backbone.named_parameters(prefix='backbone') if p.requires_grad)
    assert isinstance(fr.block, M._TVBottleneck) and fr.block.conv1.in_channels == 2048 and fr.block.conv1.out_channels == 512
    before = fr.frozen[1].running_mean.clone()
    net(torch.rand(2, 3, 64, 64)).sum().backward()
    assert torch.equal(fr.frozen[1].running_mean, before) and all(p.grad is None for p in fr.frozen.parameters())
    monkeypatch.setattr(torch.hub, 'load_state_dict_from_url', lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError('offline')))
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    with pytest.raises(FileNotFoundError) as e: M.build_model('resnet152-frozen', 3, 365)
    assert 'resnet152-394f9c45.pth' in str(e.value) and str(tmp_path / 'hub' / 'checkpoints') in str(e.value) and '\n' not in str(e.value)

def test_protocols_and_plans():
    s = RunSpec.for_profile('imagenet-lt', 'csa', 'paper')
    assert (s.arch, s.batch_size, s.lr, s.epochs, s.momentum, s.weight_decay) == ('resnet10', 256, 0.2, 90, 0.9, 5e-4)
    assert (s.bank_size, s.start_epoch, s.fit_threshold, s.image_size, s.schedule) == (256, 10, 0.8, 224, 'cosine')
    lr = lr_schedule(s)
    assert lr(0) == pytest.approx(0.2) and lr(45) == pytest.approx(0.1) and lr(89) == pytest.approx(0.5 * 0.2 * (1 + np.cos(np.pi * 89 / 90)))
    assert RunSpec.for_profile('imagenet-lt', 'ce', 'paper', arch='resnet50').arch == 'resnet50'
    p = RunSpec.for_profile('places-lt', 'csa', 'paper')
    assert (p.arch, p.epochs, p.lr, p.batch_size, p.bank_size) == ('resnet152-frozen', 90, 0.2, 256, 256)
    sm = RunSpec.for_profile('places-lt', 'crt', 'smoke')
    assert (sm.epochs, sm.crt_epochs, sm.image_size, sm.subset, sm.arch) == (1, 1, 32, 10, 'resnet10')
    oltr = lambda prof: sorted(x.name.rsplit('-', 1)[0] for x in plan_runs(prof) if x.dataset in ('imagenet-lt', 'places-lt'))
    assert oltr('smoke') == [] and oltr('cpu') == []
    assert oltr('paper') == ['imagenet-lt-cb-rs-s0', 'imagenet-lt-ce-s0', 'imagenet-lt-crt-s0', 'imagenet-lt-csa-s0', 'places-lt-csa-s0']

def test_smoke_cli_trains_ce_crt_cbrs_csa(env, tmp_path, monkeypatch, capsys):
    "csa-run train --dataset imagenet-lt --profile smoke for CE, cRT, CB-RS and CSA, reading images with two worker processes."
    monkeypatch.setenv('CSA_IMAGE_WORKERS', '2')
    monkeypatch.setitem(O.LT_SPLITS['imagenet-lt'], 'num_classes', 24)   # 24 classes: Many/Medium/Few fall back to 30/40/30 % of them
    torch.set_num_threads(1)
    out, res = tmp_path / 'out', {}
    for m in ('ce', 'crt', 'cb-rs', 'csa'):
        t0 = time.perf_counter()
        assert main(['train', '--dataset', 'imagenet-lt', '--method', m, '--profile', 'smoke', '--out', str(out)]) == 0, capsys.readouterr().err
        res[m] = json.loads(capsys.readouterr().out); res[m]['_s'] = time.perf_counter() - t0
    for m, r in res.items():
        assert r['spec']['image_size'] == 32 and r['spec']['subset'] == 10 and r['spec']['arch'] == 'resnet10'
        assert r['dataset']['groups'] == {'many': [0, 7], 'medium': [7, 17], 'few': [17, 24]}
        assert r['dataset']['train_size'] == 155 and r['dataset']['test_size'] == 48
        assert all(r['metrics'][k] is not None for k in ('all', 'many', 'medium', 'few'))
        assert {'many_by_count', 'medium_by_count', 'few_by_count'} <= set(r['metrics'])   # all 24 have < 20 images after the cap
        assert r['metrics']['few_by_count'] is not None and r['metrics']['many_by_count'] is None
        assert 'md5' in r['dataset']['source'] and str(env) not in json.dumps(r)
    assert res['crt']['stage1_from'].startswith('reused from run imagenet-lt-ce-s0-')
    assert res['csa']['metrics_predictor'] == 'balanced' and set(res['csa']['predictors']) == {'uniform', 'balanced', 'ensemble'}
    print({m: round(r['_s'], 1) for m, r in res.items()})

def test_real_places_lists_name_the_missing_images(tmp_path, monkeypatch):
    "With the real Places-LT lists (CSA_DATA_MIRROR) and an image root that lacks the images, the error counts and names them."
    from conftest import REAL_MIRROR
    from pathlib import Path
    if not REAL_MIRROR or not (Path(REAL_MIRROR) / 'lt_splits' / 'Places_LT_train.txt').is_file(): pytest.skip('no Places-LT lists in CSA_DATA_MIRROR')
    monkeypatch.setenv('CSA_DATA_MIRROR', REAL_MIRROR); monkeypatch.setenv('CSA_DATA', str(tmp_path / 'data'))
    monkeypatch.setenv('PLACES_ROOT', str(tmp_path))
    with pytest.raises(DatasetUnavailable, match=r'^62500 of 62500 images listed in Places_LT_train\.txt are missing under the image root .*, e\.g\. train/'):
        build_dataset('places-lt')
    capped = sum(min(n, 10) for n in O.load_split_lists('places-lt').counts)      # smoke: at most 10 per class
    assert capped == 3568
    with pytest.raises(DatasetUnavailable, match=rf'^{capped} of {capped} images listed in Places_LT_train\.txt'):
        build_dataset('places-lt', subset=10, image_size=32)

def test_csa_branch_mixes_contexts_on_lazy_images(env, tmp_path, monkeypatch):
    "CSA's balanced branch really runs on ImageFiles batches under the 224 px-style transforms (threshold 0 so the bank fills at once)."
    from csa_nb.experiments import ResultStore, run_experiment
    monkeypatch.setitem(O.LT_SPLITS['imagenet-lt'], 'num_classes', 24)
    torch.set_num_threads(1)
    s = RunSpec.for_profile('imagenet-lt', 'csa', 'smoke', epochs=2, start_epoch=1, fit_threshold=0.0)
    h = run_experiment(s, ResultStore(tmp_path / 'runs'), device='cpu')['history']['stage1']
    assert [r['balanced_samples'] for r in h] == [0, 155] and h[1]['loss_balanced'] > 0 and h[1]['fit_fraction'] == 1.0
