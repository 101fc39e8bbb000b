"Samplers: the class-aware sampler's structure, the balance exponent, determinism per (seed, epoch)."
import numpy as np
import pytest
import torch
from csa_nb.sampling import ClassAwareSampler, BalanceSampler, UniformSampler, make_sampler, class_counts

LABELS = torch.tensor(np.repeat(np.arange(5), [97, 40, 13, 5, 1]))

def test_uniform_is_a_permutation_per_epoch():
    s = UniformSampler(LABELS, 5)
    a, b = s.epoch_indices(0, 3), s.epoch_indices(1, 3)
    assert sorted(a.tolist()) == list(range(156)) and not torch.equal(a, b)
    assert torch.equal(a, UniformSampler(LABELS, 5).epoch_indices(0, 3))

def test_class_aware_epoch_structure():
    s = ClassAwareSampler(LABELS, 5)
    idx = s.epoch_indices(0, 0); lab = LABELS[idx]
    assert len(s) == len(idx) == 97 * 5
    assert len(idx) % 4 == 1                                   # 485 = 121 full visits + 1 sample of the last
    runs = lab[:484].view(-1, 4)
    assert (runs == runs[:, :1]).all()                        # 4 consecutive samples per class visit
    visits = runs[:, 0]
    for c in range(len(visits) // 5):                          # each cycle visits every class once
        assert sorted(visits[5 * c:5 * c + 5].tolist()) == [0, 1, 2, 3, 4]
    counts = class_counts(lab, 5)
    assert max(counts) - min(counts) <= 4 * 2                  # balanced up to the last partial cycle
    # within a class, every image is used once before any repeats (cyclic pass over a reshuffled list)
    k1 = idx[lab == 1].tolist()
    assert sorted(k1[:40]) == list(range(97, 137)) and sorted(k1[40:80]) == list(range(97, 137))
    assert set(idx[lab == 4].tolist()) == {155}

def test_class_aware_is_deterministic_per_seed_and_epoch():
    s = ClassAwareSampler(LABELS, 5)
    assert torch.equal(s.epoch_indices(7, 1), ClassAwareSampler(LABELS, 5).epoch_indices(7, 1))
    assert not torch.equal(s.epoch_indices(7, 1), s.epoch_indices(8, 1))
    assert not torch.equal(s.epoch_indices(7, 1), s.epoch_indices(7, 2))

def test_class_aware_rejects_empty_class():
    with pytest.raises(ValueError, match=r'empty classes: \[2\]'): ClassAwareSampler(torch.tensor([0, 1, 1, 3]), 4)

@pytest.mark.parametrize('gamma', [0.0, 0.25, 0.5, 0.75, 1.0])
def test_balance_exponent_class_probabilities(gamma):
    n = torch.tensor([97., 40, 13, 5, 1])
    expect = n ** (1 - gamma) / (n ** (1 - gamma)).sum()
    s = BalanceSampler(LABELS, 5, gamma, num_samples=300_000)
    assert torch.allclose(s.class_probs, expect.double())
    freq = torch.bincount(LABELS[s.epoch_indices(0, 0)], minlength=5).double() / 300_000
    assert (freq - expect.double()).abs().max() < 0.005

@pytest.mark.parametrize('gamma', [-0.1, 1.5])
def test_balance_exponent_out_of_range(gamma):
    with pytest.raises(ValueError, match=r'\[0, 1\]'): make_sampler('balance', LABELS, 5, gamma=gamma)

def test_make_sampler_names():
    with pytest.raises(ValueError, match='valid choices: uniform, class-aware, balance'): make_sampler('sqrt', LABELS, 5)
    with pytest.raises(ValueError, match='needs gamma'): make_sampler('balance', LABELS, 5)
