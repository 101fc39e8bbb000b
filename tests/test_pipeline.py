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

def test_table2_cpu_shows_finished_runs_at_ratios_50_and_10(tmp_path):
    "Runs at ratios 50 and 10 are not planned at `cpu`, but once finished they are rows of Table 2, and against_ce checks their column alone."
    import json
    from conftest import ROOT
    from csa_nb.experiments import RunSpec, ResultStore
    from csa_nb.pipeline import make_table2, _finished_ratios
    img = 'cifar10-jpeg.tar.gz'
    src, store = ResultStore(ROOT / 'outputs' / 'runs'), ResultStore(tmp_path / 'runs')
    spec = lambda m, f: RunSpec.for_profile('cifar10-lt', m, 'cpu', imb_factor=f, images=img)
    for m, f, acc in (('ce', 0.01, 60.0), ('ce', 0.02, 66.0), ('crt', 0.02, 70.5), ('cb-rs', 0.02, 65.0), ('la', 0.1, 80.0)):
        r = json.loads(json.dumps(src.load(spec(m, 0.01))))   # a committed result, renamed and relabelled
        r['metrics']['all'] = acc; store.save(spec(m, f), r)
    assert [(s.method, s.imb_factor) for s in _finished_ratios('cpu', img, store)] == [('ce', 0.02), ('crt', 0.02), ('cb-rs', 0.02), ('la', 0.1)]
    assert _finished_ratios('paper', img, store) == [] and _finished_ratios('smoke', img, store) == []
    df = make_table2('cpu', tmp_path, img)
    assert len(df) == 5 and sorted(df[df.imbalance == 50].method) == ['cb-rs', 'ce', 'crt']
    md = (tmp_path / 'tables' / 'table2.md').read_text()
    assert '| cRT | 42.3 | 46.8 | 58.1 | 75.7 | 80.4 | 88.3 | C10-50, 30 ep | 70.5 |' in md and '| LA (beyond the paper) |' in md and 'C10-10, 30 ep | 80.0 |' in md
    c50 = [l for l in md.splitlines() if l.startswith('- C10-50, 30 ep')]
    assert len(c50) == 1 and 'cRT 70.5' in c50[0]   # the paper's cRT (80.4) is >= 2.5 above its CE at ratio 50; ours is above our CE (66.0) there
    assert not any(l.startswith('- C10-10,') for l in md.splitlines())   # no CE at ratio 10: that column is not checked
