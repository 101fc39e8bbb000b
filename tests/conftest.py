import os
os.environ.setdefault('CSA_PROGRESS', 'off')
from pathlib import Path
import numpy as np
import pytest
import torch
from csa_nb import data as D, experiments as E

ROOT = Path(__file__).resolve().parents[1]
REAL_MIRROR = os.environ.get('CSA_DATA_MIRROR')  # before any test changes it
TOY_COUNTS = [120, 60, 30, 12]

def _labels(counts): return torch.cat([torch.full((n,), k) for k, n in enumerate(counts)]).long()

def corner_squares(counts, g: torch.Generator, noise: float = 60, add: int = 180):
    "28 px grey images, `counts[k]` of class k: noise below `noise`, plus `add` in an 8x8 square in class k's corner (4 classes)."
    y = _labels(counts)
    x = (torch.rand(len(y), 1, 28, 28, generator=g) * noise).to(torch.uint8)
    for k, (r, c) in enumerate([(2, 2), (2, 18), (18, 2), (18, 18)]): x[y == k, :, r:r + 8, c:c + 8] += add
    return x, y

def channel_squares(counts, g: torch.Generator):
    "32 px colour images, `counts[k]` of class k: noise below 80, and a 16x16 square at 250 in colour channel k % 3."
    y = _labels(counts)
    x = (torch.rand(len(y), 3, 32, 32, generator=g) * 80).to(torch.uint8)
    for i in range(len(y)): x[i, int(y[i]) % 3, 8:24, 8:24] = 250
    return x, y

def make_toy(imb_factor=0.01, **kw):
    """A tiny 4-class long-tailed image set the tests make themselves: each class is a bright 8x8
    square in its own corner of a 28x28 image, plus noise. Learnable in one epoch."""
    g = torch.Generator().manual_seed(123)
    x, y = corner_squares(TOY_COUNTS, g); tx, ty = corner_squares([50] * 4, g)
    return D.LTData('toy-lt', x, y, tx, ty, 4, list(TOY_COUNTS), {'many': (0, 1), 'medium': (1, 3), 'few': (3, 4)},
                    source='made by the tests', info={'imb_factor': imb_factor})

@pytest.fixture
def toy(monkeypatch):
    "Register the toy dataset (and a 2-epoch protocol for it) for the duration of one test."
    monkeypatch.setitem(D.DATASETS, 'toy-lt', make_toy)
    monkeypatch.setitem(E.PROTOCOLS, 'toy-lt', dict(arch='lenet2', epochs=2, crt_epochs=2, batch_size=32, lr=0.05))
    return make_toy()

@pytest.fixture(autouse=True)
def no_split_list_downloads(tmp_path_factory, monkeypatch):
    "No test reaches the network for an OLTR split list: downloads go to a file:// folder that does not exist (tests that download point it elsewhere)."
    from csa_nb import oltr as O
    monkeypatch.setattr(O, 'SPLIT_LIST_URL', (tmp_path_factory.getbasetemp() / 'no-split-list-server').as_uri() + '/')

@pytest.fixture
def tmp_env(tmp_path, monkeypatch):
    "Fresh CSA_DATA / CSA_OUTPUTS in a temporary folder, no mirror."
    monkeypatch.setenv('CSA_DATA', str(tmp_path / 'data'))
    monkeypatch.setenv('CSA_OUTPUTS', str(tmp_path / 'outputs'))
    monkeypatch.delenv('CSA_DATA_MIRROR', raising=False)
    return tmp_path

@pytest.fixture
def toy32(monkeypatch):
    "Register the 3-class 32 px toy set of tests/test_loop_golden.py with its ResNet-32 protocol, at 5 epochs."
    from test_loop_golden import make_toy32, TOY32
    monkeypatch.setitem(D.DATASETS, 'toy32-lt', make_toy32)
    monkeypatch.setitem(E.PROTOCOLS, 'toy32-lt', {**TOY32, 'epochs': 5})
