"The csa-run console script, as a user calls it."
import json, os, subprocess, sys
from pathlib import Path
import pytest

CLI = str(Path(sys.executable).parent / 'csa-run')

def run(*args, **kw):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=600, **kw)

@pytest.mark.parametrize('args,msg', [
    (['--dataset', 'imagenet', '--method', 'ce'], 'valid choices: cifar10-lt, cifar100-lt, cmnist-lt, fashion-lt, imagenet-lt, mnist-lt, places-lt'),
    (['--dataset', 'mnist-lt', '--method', 'rs'], 'valid choices: ce, crt, cb-rs, rs-gamma, csa, csa-mixup'),
    (['--dataset', 'mnist-lt', '--method', 'ce', '--imb-factor', '1.5'], '(0, 1]'),
    (['--dataset', 'mnist-lt', '--method', 'ce', '--imb-factor', '0'], '(0, 1]'),
    (['--dataset', 'mnist-lt', '--method', 'ce', '--epochs', '-2'], 'non-negative'),
    (['--dataset', 'mnist-lt', '--method', 'ce', '--profile', 'huge'], 'valid choices: smoke, cpu, paper'),
    (['--dataset', 'cifar10-lt', '--method', 'bbn', '--milestones', '0.8,0.6'], 'increasing fractions in (0, 1), e.g. 0.6,0.8'),
    (['--dataset', 'cifar10-lt', '--method', 'bbn', '--lr-gamma', '0'], 'lr_gamma must be a factor in (0, 1)'),
    (['--dataset', 'mnist-lt', '--method', 'ce', '--milestones', '0.5'], 'trains with the cosine schedule')])
def test_bad_train_arguments_exit_2_with_choices(args, msg, tmp_path):
    r = run('train', *args, '--out', str(tmp_path))
    assert r.returncode == 2 and msg in r.stderr and r.stdout == ''
    assert not list(tmp_path.rglob('result.json'))

def test_reproduce_rejects_unknown_target():
    r = run('reproduce', '--only', 'table7')
    assert r.returncode == 2 and 'valid choices: table1, fig2, fig4, table2' in r.stderr

def test_missing_data_offline_exits_3_naming_file(tmp_path):
    (tmp_path / 'm').mkdir()
    env = {**os.environ, 'CSA_DATA': str(tmp_path / 'd'), 'CSA_DATA_MIRROR': str(tmp_path / 'm')}
    r = run('train', '--dataset', 'fashion-lt', '--method', 'ce', '--out', str(tmp_path / 'o'), env=env)
    assert r.returncode == 3 and 'FashionMNIST/raw/train-images-idx3-ubyte.gz' in r.stderr and 'CSA_DATA_MIRROR' in r.stderr

def test_images_only_for_cifar(tmp_path):
    r = run('train', '--dataset', 'mnist-lt', '--method', 'ce', '--images', str(tmp_path), '--out', str(tmp_path))
    assert r.returncode == 2 and 'valid choices: cifar10-lt, cifar100-lt' in r.stderr

def test_train_prints_result_json(tmp_path):
    r = run('train', '--dataset', 'mnist-lt', '--method', 'cb-rs', '--epochs', '1', '--out', str(tmp_path))
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res['spec']['epochs'] == 1 and res['spec']['method'] == 'cb-rs' and res['metrics']['all'] > 70
    assert (tmp_path / 'runs' / res['name'] / 'result.json').exists()
