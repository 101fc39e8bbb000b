"tools/migrate_focal_form.py: a softmax focal run saved before `focal_form` existed gets the name its spec has now; nothing else changes."
import hashlib, json, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parents[1] / 'tools'))
import migrate_focal_form
from csa_nb.experiments import RunSpec, ResultStore

def test_softmax_run_is_renamed_to_its_spec(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('CSA_OUTPUTS', str(tmp_path))
    now = RunSpec.for_profile('cifar10-lt', 'cb-focal', 'cpu', images='cifar10-jpeg.tar.gz', params=(('focal_form', 'softmax'),))
    # the identity the first run had: the same, without focal_form; its hash is the committed run's name
    ident = now.identity(); ident['params'] = [p for p in ident['params'] if p[0] != 'focal_form']
    old_name = f"cifar10-lt-cb-focal-s0-{hashlib.sha1(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:10]}"
    assert old_name == 'cifar10-lt-cb-focal-s0-a3e1110e78' and now.name == 'cifar10-lt-cb-focal-s0-106ecb779d'
    saved = {**now.to_dict(), 'profile': 'cpu', 'params': [list(p) for p in ident['params']]}
    old = tmp_path / 'runs' / old_name; old.mkdir(parents=True)
    (old / 'result.json').write_text(json.dumps({'name': old_name, 'spec': saved, 'metrics': {'all': 57.24}}))
    (old / 'spec.json').write_text(json.dumps(saved)); (old / 'gradcam.npz').write_bytes(b'x')
    (tmp_path / 'analysis').mkdir()
    (tmp_path / 'analysis' / 'feature_probe_cpu.json').write_text(json.dumps({'rows': [{'run': old_name, 'method': 'cb-focal'}, {'run': 'other', 'method': 'ce'}]}))
    (tmp_path / 'analysis' / 'feature_probe_cpu.md').write_text(f'| {old_name} | cb-focal |\n')
    migrate_focal_form.main()
    assert not old.exists()
    r = ResultStore(tmp_path / 'runs').load(now)                       # found under the name its spec has now
    assert r['name'] == now.name and r['metrics'] == {'all': 57.24} and dict(r['spec']['params'])['focal_form'] == 'softmax'
    assert (tmp_path / 'runs' / now.name / 'gradcam.npz').read_bytes() == b'x'
    rows = json.loads((tmp_path / 'analysis' / 'feature_probe_cpu.json').read_text())['rows']
    assert rows == [{'run': now.name, 'method': 'cb-focal', 'params': {'focal_form': 'softmax'}}, {'run': 'other', 'method': 'ce'}]
    assert now.name in (tmp_path / 'analysis' / 'feature_probe_cpu.md').read_text()
    capsys.readouterr(); migrate_focal_form.main()
    assert capsys.readouterr().out.strip() == 'nothing to migrate'      # a second run changes nothing
