"Run specs, the result store, resuming killed runs, cRT reusing CE."
import json
import numpy as np
import pytest
import torch
from csa_nb.experiments import RunSpec, ResultStore, run_experiment, table1_frame, PAPER_TABLE1, reference

@pytest.mark.parametrize('field,value,msg', [
    ('dataset', 'svhn-lt', 'valid choices: cifar10-lt, cifar100-lt, cmnist-lt, fashion-lt, imagenet-lt, mnist-lt, places-lt'),
    ('method', 'svm', 'valid choices: ce, crt, cb-rs, rs-gamma, csa, csa-mixup, focal, cb-focal, la, balanced-softmax, ce-drw, ce-drs, ldam-drw'),
    ('imb_factor', 0.0, r'\(0, 1\]'), ('imb_factor', 1.5, r'\(0, 1\]'),
    ('epochs', -3, 'non-negative'), ('seed', -1, 'non-negative'), ('profile', 'tpu', 'valid choices: smoke, cpu, paper'),
    ('arch', 'vgg', 'valid choices: lenet2')])
def test_bad_specs_are_rejected_with_the_choices(field, value, msg):
    with pytest.raises(ValueError, match=msg): RunSpec(**{'dataset': 'mnist-lt', 'method': 'ce', field: value})

def test_rng_choice():
    with pytest.raises(ValueError, match='valid choices: per-epoch, notebook'): RunSpec('mnist-lt', 'ce', rng='global')
    with pytest.raises(ValueError, match='not csa'): RunSpec('cifar10-lt', 'csa', arch='resnet32', rng='notebook')
    assert RunSpec('mnist-lt', 'ce', rng='per-epoch') == RunSpec('mnist-lt', 'ce')            # the default, by name
    assert RunSpec.for_profile('mnist-lt', 'ce').rng == 'notebook' and RunSpec.for_profile('cifar10-lt', 'ce').rng is None
    assert RunSpec.for_profile('mnist-lt', 'ce', rng='per-epoch').name != RunSpec.for_profile('mnist-lt', 'ce').name

def test_notebook_runs_use_one_cpu_thread_and_restore_the_count(toy, tmp_path):
    import torch
    before = torch.get_num_threads()
    r = run_experiment(RunSpec.for_profile('toy-lt', 'ce', 'cpu', rng='notebook'), ResultStore(tmp_path))
    assert r['device'].endswith('1 threads)') and torch.get_num_threads() == before

def test_fashion_lt_ce_seed0_replays_the_authors_run(tmp_env, monkeypatch):
    "The authors' fashionmnist_lt_ce notebook printed 45.66 (classes 4 and 6-9 at 0.0) and, after cRT, 60.38."
    from conftest import REAL_MIRROR as real
    if not real: pytest.skip('needs a real mirror (CI sets CSA_DATA_MIRROR) or the download')
    monkeypatch.setenv('CSA_DATA_MIRROR', real)
    store = ResultStore(tmp_env / 'runs')
    ce = run_experiment(RunSpec.for_profile('fashion-lt', 'ce', 'cpu'), store)
    pc = ce['metrics']['per_class']
    assert abs(ce['metrics']['all'] - 45.66) < 1.0 and ce['metrics']['few'] == 0.0
    assert [k for k in range(10) if pc[k] == 0.0] == [4, 6, 7, 8, 9]
    crt = run_experiment(RunSpec.for_profile('fashion-lt', 'crt', 'cpu'), store)
    assert abs(crt['metrics']['all'] - 60.38) < 1.5 and crt['stage1_metrics'] == ce['metrics']

def test_spec_identity_and_name():
    a = RunSpec.for_profile('mnist-lt', 'ce', 'cpu'); b = RunSpec.for_profile('mnist-lt', 'ce', 'paper')
    assert a.name == b.name and a.name.startswith('mnist-lt-ce-s0-') and len(a.hash) == 10
    assert RunSpec.for_profile('mnist-lt', 'ce', seed=1).name != a.name
    assert RunSpec.for_profile('mnist-lt', 'ce', imb_factor=0.02).name != a.name
    assert RunSpec.for_profile('mnist-lt', 'ce', 'smoke').epochs == 1
    assert RunSpec('mnist-lt', 'ce', crt_epochs=9).crt_epochs == 0     # no stage 2 in a ce run
    # adding options must not rename finished runs: the committed CIFAR-10-LT CE run of the cpu profile keeps its name
    assert RunSpec.for_profile('cifar10-lt', 'ce', 'cpu', images='/any/where/cifar10-jpeg.tar.gz').name == 'cifar10-lt-ce-s0-c7516c4c86'
    assert RunSpec.for_profile('cifar10-lt', 'ce').mixup_alpha is None is RunSpec.for_profile('mnist-lt', 'cb-rs').mixup_alpha
    assert RunSpec.for_profile('cifar10-lt', 'csa-mixup').mixup_alpha == 1.0

def test_toy_run_writes_a_complete_result(toy, tmp_path):
    store = ResultStore(tmp_path)
    spec = RunSpec.for_profile('toy-lt', 'ce', 'cpu')
    r = run_experiment(spec, store)
    on_disk = json.loads(store.result_path(spec).read_text())
    assert on_disk == r
    assert set(r['metrics']) >= {'all', 'many', 'medium', 'few', 'top5', 'per_class'} and len(r['metrics']['per_class']) == 4
    assert r['metrics']['all'] > 40 and r['spec']['epochs'] == 2 and len(r['history']['stage1']) == 2
    assert r['dataset']['counts'] == [120, 60, 30, 12] and r['wall_seconds'] > 0 and r['device'].startswith('cpu')
    assert all(h['device'] == r['device'] for h in r['history']['stage1']) and r['epochs_by_device'] == {r['device']: 2}
    assert {'git_commit', 'torch', 'device', 'date'} <= set(r['provenance'])
    with np.load(store.run_dir(spec) / 'features.npz') as z: assert z['train'].shape == (222, 2) and z['test'].shape == (200, 2)
    assert not list(store.run_dir(spec).glob('*.ckpt'))

@pytest.mark.parametrize('method,rng', [('cb-rs', None), ('cb-rs', 'notebook'), ('ce', 'notebook'), ('rs-gamma', 'notebook')])
def test_killed_run_leaves_no_result_and_resumes(toy, tmp_path, method, rng):
    spec = RunSpec.for_profile('toy-lt', method, 'cpu', rng=rng, gamma=0.5)
    store = ResultStore(tmp_path / 'a')
    def kill(epoch, rec):
        if epoch == 0: raise KeyboardInterrupt('killed')
    with pytest.raises(KeyboardInterrupt): run_experiment(spec, store, on_epoch_end=kill)
    assert not store.has(spec) and (store.run_dir(spec) / 'stage1.ckpt').exists()
    assert not list(store.run_dir(spec).glob('.*.tmp'))
    resumed = run_experiment(spec, store)
    fresh = run_experiment(spec, ResultStore(tmp_path / 'b'))
    assert store.has(spec) and resumed['metrics'] == fresh['metrics']
    assert [h['loss'] for h in resumed['history']['stage1']] == [h['loss'] for h in fresh['history']['stage1']]

@pytest.mark.parametrize('rng', [None, 'notebook'])
def test_crt_reuses_the_finished_ce_run(toy, tmp_path, rng):
    store = ResultStore(tmp_path)
    ce = run_experiment(RunSpec.for_profile('toy-lt', 'ce', 'cpu', rng=rng), store)
    crt = run_experiment(RunSpec.for_profile('toy-lt', 'crt', 'cpu', rng=rng), store)
    assert crt['stage1_from'].startswith('reused from run toy-lt-ce-s0-')
    assert crt['stage1_metrics'] == ce['metrics'] and len(crt['history']['crt']) == 2
    alone = run_experiment(RunSpec.for_profile('toy-lt', 'crt', 'cpu', rng=rng), ResultStore(tmp_path / 'alone'))
    assert alone['stage1_from'] == 'trained in this run' and alone['metrics'] == crt['metrics']

def test_finished_run_is_not_redone(toy, tmp_path):
    store = ResultStore(tmp_path); spec = RunSpec.for_profile('toy-lt', 'ce', 'cpu')
    run_experiment(spec, store)
    def boom(*a): raise AssertionError('trained again')
    assert run_experiment(spec, store, on_epoch_end=boom)['name'] == spec.name

def test_paper_numbers_and_table(toy, tmp_path):
    assert PAPER_TABLE1['mnist-lt']['cb-rs'] == (90.8, 98.7, 94.4, 77.7)
    assert reference('cmnist-lt', 'crt')[0][0] == 52.19 and reference('toy-lt', 'ce') == (None, '')
    store = ResultStore(tmp_path)
    specs = [RunSpec.for_profile('toy-lt', 'ce', 'cpu', seed=s) for s in (0, 1)]
    for s in specs: run_experiment(s, store)
    df = table1_frame(specs, store)
    a = df[df.metric == 'all'].iloc[0]
    vals = [store.load(s)['metrics']['all'] for s in specs]
    assert a.n_seeds == 2 and abs(a.ours_mean - np.mean(vals)) < 0.01 and abs(a.ours_seed0 - vals[0]) < 0.01

def test_table2_cost_of_a_run_resumed_across_sessions_is_its_epochs():
    "The committed 200-epoch CE run was resumed several times: its cost is the sum of its epochs, not the last process's wall time."
    from conftest import ROOT
    from csa_nb.experiments import table2_frame
    spec = RunSpec.for_profile('cifar10-lt', 'ce', 'paper', images='somewhere/cifar10-jpeg.tar.gz')
    store = ResultStore(ROOT / 'outputs' / 'runs')
    r = store.load(spec); secs = sum(h['seconds'] for h in r['history']['stage1'])
    assert r['wall_seconds'] < secs and len(r['history']['stage1']) == 200
    row = table2_frame([spec], store).iloc[0]
    assert row.wall_seconds == round(secs, 2) and row.epochs == 200 and row.profile == 'paper'
