"The pipeline's planning, and a real (python-engine) reproduce of one target that skips finished runs."
import pytest
from csa_nb.pipeline import plan_runs, parse_only, reproduce, target_specs

def test_plans():
    assert len(plan_runs('smoke')) == 12 and len(plan_runs('cpu')) == 48 and len(plan_runs('paper', 'fig2')) == 4
    assert parse_only('fig4, table1') == ('fig4', 'table1') and parse_only(None) == ('table1', 'fig2', 'fig4', 'table2')
    t2 = target_specs('table2', 'cpu', cifar10_images='/x/cifar10-jpeg.tar.gz')
    assert [s.method for s in t2] == ['ce', 'cb-rs', 'csa'] and all(s.epochs == 30 and s.images.endswith('cifar10-jpeg.tar.gz') for s in t2)
    assert target_specs('table2', 'cpu')[0].images is None                    # torchvision's archive unless told otherwise
    assert len({s.name for s in target_specs('table2', 'paper')}) == 30
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
