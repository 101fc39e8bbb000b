"Long-tail construction, the real MNIST-family datasets, and the data errors a user can meet."
import gzip, os, shutil
from pathlib import Path
import numpy as np
import pytest
import torch
from csa_nb import data as D

def test_exponential_and_step_profiles():
    assert D.long_tail_counts(6000, 10, 0.01) == [6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]
    assert D.long_tail_counts(5000, 10, 0.01) == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    c100 = D.long_tail_counts(500, 100, 0.01)
    assert sum(c100) == 10847 and c100[:3] == [500, 477, 455] and c100[-1] == 5
    assert D.long_tail_counts(100, 10, 1.0) == [100] * 10
    assert D.long_tail_counts(1000, 6, 0.1, 'step') == [1000] * 3 + [100] * 3

@pytest.mark.parametrize('bad', [0, 0.0, -0.5, 1.0001, 100, float('nan'), None, 'ten'])
def test_imbalance_factor_outside_unit_interval_is_rejected(bad):
    with pytest.raises(ValueError, match=r'\(0, 1\]'): D.long_tail_counts(6000, 10, bad)
    with pytest.raises(ValueError, match=r'\(0, 1\]'): D.build_dataset('mnist-lt', bad)

def test_unknown_profile_and_dataset_name_list_choices():
    with pytest.raises(ValueError, match='valid choices: exp, step'): D.long_tail_counts(10, 3, 0.1, 'linear')
    with pytest.raises(ValueError, match='valid choices: cifar10-lt, cifar100-lt, cmnist-lt, fashion-lt, imagenet-lt, mnist-lt, places-lt'): D.build_dataset('cifar10')

def test_subset_is_the_seeded_per_class_shuffle():
    labels = np.repeat(np.arange(3), [10, 8, 6])
    rng = np.random.RandomState(0)
    want = []
    for k, n in enumerate([5, 3, 1]):
        idx = np.where(labels == k)[0]; rng.shuffle(idx); want.append(idx[:n])
    got = D.long_tail_subset(labels, [5, 3, 1], np.random.RandomState(0))
    assert got.tolist() == np.concatenate(want).tolist()
    with pytest.raises(ValueError, match='class 2 has 6 images'): D.long_tail_subset(labels, [1, 1, 7], np.random.RandomState(0))

def test_choice_many_consumes_the_stream_like_a_loop_of_choice():
    p = np.random.RandomState(5).rand(50, 7); p /= p.sum(1, keepdims=True)
    a = np.random.RandomState(1); loop = [a.choice(7, p=row) for row in p]; after_loop = a.rand()
    b = np.random.RandomState(1); vec = D.choice_many(b, p); after_vec = b.rand()
    assert vec.tolist() == loop and after_loop == after_vec

def test_mnist_lt_counts_and_tensors():
    d = D.build_dataset('mnist-lt')
    assert d.counts == [5923, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]
    assert torch.bincount(d.train_y).tolist() == d.counts and sum(d.counts) == 14809
    assert d.train_x.dtype == torch.uint8 and d.train_x.shape == (14809, 1, 28, 28) and d.test_x.shape == (10000, 1, 28, 28)
    assert d.groups == {'many': (0, 3), 'medium': (3, 7), 'few': (7, 10)}
    # class blocks in order, as the authors store them
    assert (d.train_y[:-1] <= d.train_y[1:]).all()

def test_fashion_lt_counts():
    d = D.build_dataset('fashion-lt')
    assert d.counts == [6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]
    assert torch.bincount(d.test_y).tolist() == [1000] * 10

def test_cmnist_lt_matches_the_authors_dataset():
    d = D.build_dataset('cmnist-lt')
    assert d.counts == [5513, 3643, 2282, 1389, 860, 490, 281, 194, 106, 51]
    assert d.info['realised_noise'] == 0.24998311837396178
    assert d.train_x.shape == (14809, 3, 28, 28) and d.test_x.shape == (10000, 3, 28, 28)
    col = np.array(d.info['train_colours']); y = d.train_y.numpy()
    for k in range(5, 10): assert (col[y == k] == k).all()          # tail classes: one fixed colour
    hist = np.zeros((10, 10), int); np.add.at(hist, (y, col), 1)
    assert hist[1].tolist() == [348, 365, 338, 366, 352, 362, 391, 381, 366, 374]
    assert d.info['test_colours'][:10] == [5, 7, 6, 5, 4, 6, 4, 8, 9, 3]
    # the tint: a white pixel of colour 3 (214, 39, 40) stays (214, 39, 40); black stays black
    i = int(np.where(col == 3)[0][0]); img = d.train_x[i]
    gray = D.build_dataset('mnist-lt').train_x[i, 0]
    expect = (gray.double()[None] * torch.tensor([214, 39, 40.]).view(3, 1, 1) / 255).to(torch.uint8)
    assert torch.equal(img, expect)

def _fake_archive(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, 'wb') as f: f.write(b'not mnist')

def test_corrupt_archive_in_data_folder_is_named(tmp_env, monkeypatch):
    bad = tmp_env / 'data' / 'MNIST' / 'raw' / 'train-images-idx3-ubyte.gz'
    _fake_archive(bad)
    with pytest.raises(D.DatasetUnavailable) as e: D.build_dataset('mnist-lt')
    msg = str(e.value)
    assert str(bad) in msg and 'MD5' in msg and 'f68b3c2dcbeaaa9fbdd348bbdeb94873' in msg

def test_corrupt_archive_in_mirror_is_named(tmp_env, monkeypatch):
    mirror = tmp_env / 'mirror'
    _fake_archive(mirror / 'FashionMNIST' / 'raw' / 'train-images-idx3-ubyte.gz')
    monkeypatch.setenv('CSA_DATA_MIRROR', str(mirror))
    with pytest.raises(D.DatasetUnavailable, match='corrupt archive .*FashionMNIST/raw/train-images-idx3-ubyte.gz in CSA_DATA_MIRROR'):
        D.build_dataset('fashion-lt')
    assert not (tmp_env / 'data' / 'FashionMNIST' / 'raw' / 'train-images-idx3-ubyte.gz').exists()

def test_missing_file_offline_names_file_and_both_variables(tmp_env, monkeypatch):
    (tmp_env / 'empty-mirror').mkdir()
    monkeypatch.setenv('CSA_DATA_MIRROR', str(tmp_env / 'empty-mirror'))
    with pytest.raises(D.DatasetUnavailable) as e: D.build_dataset('mnist-lt')
    msg = str(e.value)
    assert 'MNIST/raw/train-images-idx3-ubyte.gz' in msg and 'CSA_DATA' in msg and 'CSA_DATA_MIRROR' in msg
    assert 'no download is attempted' in msg

def test_mirror_archives_are_checked_and_staged(tmp_env, monkeypatch):
    from conftest import REAL_MIRROR as real
    if not real: pytest.skip('needs a real mirror (CI sets CSA_DATA_MIRROR)')
    monkeypatch.setenv('CSA_DATA_MIRROR', real)
    d = D.build_dataset('mnist-lt')
    staged = tmp_env / 'data' / 'MNIST' / 'raw' / 'train-labels-idx1-ubyte.gz'
    assert staged.exists() and D.md5sum(staged) == 'd53e105ee54ea40749a09fcbcd1e9432' and len(d.train_y) == 14809
