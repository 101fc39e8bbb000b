"Long runs that outlive a session: precision in the spec, resuming from a committed checkpoint elsewhere, no local paths in results."
import json, re, shutil
from pathlib import Path
import pytest
from csa_nb.experiments import RunSpec, ResultStore, run_experiment

ROOT = Path(__file__).resolve().parents[1]

def test_precision_is_float32_unless_asked_and_named_when_asked():
    for profile in ('smoke', 'cpu', 'paper'):
        assert RunSpec.for_profile('cifar10-lt', 'csa', profile).precision is None
    fp32 = RunSpec.for_profile('cifar10-lt', 'csa', precision='fp32')
    bf16 = RunSpec.for_profile('cifar10-lt', 'csa', precision='bf16')
    assert fp32 == RunSpec.for_profile('cifar10-lt', 'csa') and '-bf16-' not in fp32.name
    assert bf16.name.startswith('cifar10-lt-csa-s0-bf16-') and bf16.hash != fp32.hash
    with pytest.raises(ValueError, match='valid choices: fp32, bf16, fp16'): RunSpec('mnist-lt', 'ce', precision='half')

def test_toy_run_trains_in_float32(toy, tmp_path):
    assert run_experiment(RunSpec.for_profile('toy-lt', 'ce', 'paper'), ResultStore(tmp_path))['precision'] == 'float32'

def test_killed_run_resumes_in_a_fresh_clone_from_its_committed_checkpoint(toy, tmp_path):
    "Machine A is killed after epoch 1 of 3; only what git carries (spec.json, stage1.ckpt) reaches machine B, whose data lie elsewhere."
    for m in ('machine_a', 'machine_b', 'machine_c'):
        (tmp_path / m).mkdir(); (tmp_path / m / 'copy.tar.gz').write_bytes(b'the same image archive')
    spec = lambda m: RunSpec.for_profile('toy-lt', 'cb-rs', 'cpu', epochs=3, images=str(tmp_path / m / 'copy.tar.gz'))
    assert spec('machine_a').name == spec('machine_b').name          # a run is named by its data file's name, not its path
    a = ResultStore(tmp_path / 'clone_a' / 'runs')
    def kill(epoch, rec):
        if epoch == 0: raise KeyboardInterrupt('session over')
    with pytest.raises(KeyboardInterrupt): run_experiment(spec('machine_a'), a, on_epoch_end=kill)
    committed = sorted(p.name for p in a.run_dir(spec('machine_a')).iterdir())
    assert committed == ['spec.json', 'stage1.ckpt']
    b = ResultStore(tmp_path / 'clone_b' / 'runs')
    shutil.copytree(a.run_dir(spec('machine_a')), b.run_dir(spec('machine_b')))
    seen = []
    resumed = run_experiment(spec('machine_b'), b, on_epoch_end=lambda e, r: seen.append(e))
    assert seen == [1, 2]                                            # epoch 0 came from the checkpoint
    fresh = run_experiment(spec('machine_c'), ResultStore(tmp_path / 'clone_c' / 'runs'))
    assert resumed['metrics'] == fresh['metrics']
    assert [h['loss'] for h in resumed['history']['stage1']] == [h['loss'] for h in fresh['history']['stage1']]
    for f in (b.result_path(spec('machine_b')), b.run_dir(spec('machine_b')) / 'spec.json'): assert str(tmp_path) not in f.read_text()
    assert resumed['spec']['images'] == 'copy.tar.gz'
    assert resumed['provenance']['images'] == {'name': 'copy.tar.gz', 'md5': '0bbc987f078fe54dd5c21130b6a1a973', 'kind': 'file'}
    assert not list(b.run_dir(spec('machine_b')).glob('*.ckpt'))     # a finished run drops its checkpoint

def test_committed_results_hold_no_local_path():
    bad = []
    for p in sorted((ROOT / 'outputs').rglob('*.json')):
        def walk(o, where):
            if isinstance(o, dict): [walk(v, f'{where}.{k}') for k, v in o.items()]
            elif isinstance(o, list): [walk(v, where) for v in o]
            elif isinstance(o, str) and re.match(r'^(/|[A-Za-z]:\\)', o): bad.append(f'{p.relative_to(ROOT)}: {where} = {o}')
        walk(json.loads(p.read_text()), '')
    assert not bad, bad[:5]
