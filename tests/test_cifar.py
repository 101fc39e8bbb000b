"CIFAR-LT: counts, the image-folder source (folder and archive), and its errors; missing CIFAR-100 offline."
import tarfile
import numpy as np
import pytest
import torch
from PIL import Image
from csa_nb.data import long_tail_counts, DatasetUnavailable
from csa_nb.cifar import build_cifar_lt

def test_paper_counts():
    assert sum(long_tail_counts(5000, 10, 0.01)) == 12406 and sum(long_tail_counts(500, 100, 0.01)) == 10847
    assert long_tail_counts(500, 100, 0.02)[:4] == [500, 480, 462, 444] and sum(long_tail_counts(500, 100, 0.02)) == 12608

def make_tree(root, classes=10, n_train=20, n_test=3, empty=None):
    rng = np.random.RandomState(0)
    for split, n in (('train', n_train), ('test', n_test)):
        for k in range(classes):
            d = root / split / f'c{k:03d}'; d.mkdir(parents=True)
            if split == 'train' and k == empty: continue
            for i in range(n): Image.fromarray((rng.rand(32, 32, 3) * 255).astype(np.uint8)).save(d / f'{i:04d}.png')
    return root

def test_image_folder_and_archive(tmp_env):
    tree = make_tree(tmp_env / 'tree' / 'mycifar')
    d = build_cifar_lt('cifar10-lt', 0.1, images=tree)
    assert d.counts == long_tail_counts(20, 10, 0.1) and d.train_x.dtype == torch.uint8 and d.train_x.shape[1:] == (3, 32, 32)
    assert torch.bincount(d.train_y).tolist() == d.counts and len(d.test_y) == 30 and 'image folder' in d.source
    arc = tmp_env / 'mycifar.tar.gz'
    with tarfile.open(arc, 'w:gz') as t: t.add(tree, arcname='mycifar')
    d2 = build_cifar_lt('cifar10-lt', 0.1, images=arc)
    assert torch.equal(d2.train_x, d.train_x) and (tmp_env / 'data' / 'images' / 'mycifar').is_dir()

def test_wrong_class_count_is_rejected_naming_the_folder(tmp_env):
    tree = make_tree(tmp_env / 'seven', classes=7)
    with pytest.raises(ValueError, match=r'seven/train has 7 class folders, the dataset needs 10'): build_cifar_lt('cifar10-lt', images=tree)

def test_empty_class_is_rejected_naming_the_folder(tmp_env):
    tree = make_tree(tmp_env / 'holey', empty=4)
    with pytest.raises(ValueError, match=r'empty class folder .*holey/train/c004'): build_cifar_lt('cifar10-lt', images=tree)

def test_cifar100_missing_offline_names_archive_mirror_and_image_option(tmp_env, monkeypatch):
    (tmp_env / 'mirror').mkdir(); monkeypatch.setenv('CSA_DATA_MIRROR', str(tmp_env / 'mirror'))
    with pytest.raises(DatasetUnavailable) as e: build_cifar_lt('cifar100-lt')
    msg = str(e.value)
    assert 'cifar-100-python.tar.gz' in msg and 'CSA_DATA_MIRROR' in msg and '--images' in msg

def test_bad_imbalance_and_name():
    with pytest.raises(ValueError, match=r'\(0, 1\]'): build_cifar_lt('cifar10-lt', 0)
    with pytest.raises(ValueError, match='valid choices: cifar10-lt, cifar100-lt'): build_cifar_lt('cifar1000-lt')

def test_smoke_subset_caps_head_and_test(tmp_env):
    "The smoke profile's `subset`: head class capped, the same exponential profile below it, `subset // 5` test images per class."
    from csa_nb.experiments import RunSpec, SMOKE_SUBSET, _data_kw
    tree = make_tree(tmp_env / 'tree' / 'mycifar', n_train=20, n_test=4)
    d = build_cifar_lt('cifar10-lt', 0.1, images=tree, subset=10)
    assert d.counts == long_tail_counts(10, 10, 0.1) == [10, 7, 5, 4, 3, 2, 2, 1, 1, 1]
    assert torch.bincount(d.test_y).tolist() == [2] * 10 and d.info['subset'] == 10
    with pytest.raises(ValueError, match='subset must be at least 5'): build_cifar_lt('cifar10-lt', 0.1, images=tree, subset=4)
    s = RunSpec.for_profile('cifar10-lt', 'ce', 'smoke')
    assert s.subset == SMOKE_SUBSET['cifar10-lt'] == 500 and _data_kw(s) == {'subset': 500}
    assert RunSpec.for_profile('cifar10-lt', 'ce', 'cpu').subset is None and RunSpec.for_profile('mnist-lt', 'ce', 'smoke').subset is None
