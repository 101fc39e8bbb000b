"The pipeline's planning, and a real (python-engine) reproduce of one target that skips finished runs."
import pytest
from csa_nb.pipeline import plan_runs, parse_only, reproduce, target_specs
from csa_nb.train import METHODS
N_T2 = sum(m.in_table2 for m in METHODS.values())   # Table 2's rows with a method: 18 of the paper's + CB-RS, LA, balanced softmax, CSA + LA

def test_plans():
    assert len(plan_runs('smoke')) == 14 and len(plan_runs('paper', 'fig2')) == 4
    assert len(plan_runs('cpu')) == 72 + N_T2 - 5   # + the Table 2 rows beyond CE, cRT, CB-RS, CSA, CSA + mixup
    assert parse_only('fig4, table1') == ('fig4', 'table1') and parse_only(None)[:4] == ('table1', 'fig2', 'fig4', 'table2')
    t2 = target_specs('table2', 'cpu', cifar10_images='/x/cifar10-jpeg.tar.gz')
    assert [s.method for s in t2] == [m.name for m in METHODS.values() if m.in_table2] and len(t2) == N_T2 >= 21
    assert all(s.epochs == 30 and s.images.endswith('cifar10-jpeg.tar.gz') for s in t2)
    assert target_specs('table2', 'cpu')[0].images is None                    # torchvision's archive unless told otherwise
    assert len({s.name for s in target_specs('table2', 'paper')}) == N_T2 * 6
    assert {s.seed for s in target_specs('table1', 'cpu')} == {0, 1, 2, 3, 4}
    with pytest.raises(ValueError, match='valid choices: smoke, cpu, paper'): plan_runs('laptop')

def test_reproduce_fig2_then_skip(tmp_path):
    logs = []
    report = reproduce('smoke', 'fig2', tmp_path, engine='python', log=logs.append)
    assert (tmp_path / 'figures' / 'fig2_features_mnist_lt.png').stat().st_size > 10_000
    assert report.exists() and sum('running' in l for l in logs) == 4
    logs.clear()
    reproduce('smoke', 'fig2', tmp_path, engine='python', log=logs.append)
    assert sum('done, skipped' in l for l in logs) == 4 and not any(': running' in l for l in logs)

def test_figure_plans_follow_the_gamma_convention():
    f1 = target_specs('fig1', 'cpu')
    mn = [(s.method, s.gamma) for s in f1 if s.dataset == 'mnist-lt' and s.seed == 0]
    assert mn == [('ce', None), ('rs-gamma', 0.25), ('rs-gamma', 0.5), ('rs-gamma', 0.75), ('cb-rs', None)]
    assert len(f1) == 5 * 5 + 5 and {s.dataset for s in f1} == {'mnist-lt', 'cifar10-lt'}
    assert {s.dataset for s in target_specs('fig9', 'paper')} == {'cifar100-lt'}          # the paper's CIFAR set on a GPU
    f9 = target_specs('fig9', 'smoke')
    assert [(s.method, s.gamma) for s in f9] == [('cb-rs', None), ('csa', None)]   # smoke: one CIFAR run per kind
    assert [s.method for s in target_specs('fig3', 'cpu')] == ['ce', 'cb-rs', 'csa'] == [s.method for s in target_specs('fig10', 'cpu')]
    assert {s.dataset for s in target_specs('table1', 'paper')} == {'mnist-lt', 'fashion-lt', 'cmnist-lt', 'cifar100-lt', 'imagenet-lt', 'places-lt'}
    assert 'cifar100-lt' not in {s.dataset for s in target_specs('table1', 'cpu')}
