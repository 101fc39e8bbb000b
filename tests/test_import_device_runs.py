"Importing a device session's runs: finished results in, further-on checkpoints in, nothing of ours overwritten."
import io, json, subprocess, sys, tarfile
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]

def _ckpt(d: Path, epoch: int):
    d.mkdir(parents=True, exist_ok=True); (d / 'spec.json').write_text('{}')
    torch.save({'model': {}, 'history': [{'epoch': e} for e in range(epoch + 1)], 'epoch': epoch}, d / 'stage1.ckpt')

def _result(d: Path, acc: float):
    d.mkdir(parents=True, exist_ok=True); (d / 'spec.json').write_text('{}')
    (d / 'result.json').write_text(json.dumps({'metrics': {'all': acc}})); (d / 'model.pt').write_bytes(b'weights')

def test_import_rules(tmp_path):
    remote, local = tmp_path / 'session' / 'runs', tmp_path / 'outputs' / 'runs'
    _ckpt(local / 'a-done-there', 103); _result(remote / 'a-done-there', 69.8)      # finished on the device
    _ckpt(local / 'b-further', 85); _ckpt(remote / 'b-further', 183)               # further on the device
    _ckpt(local / 'c-behind', 120); _ckpt(remote / 'c-behind', 105)                # ours is further: kept
    _result(local / 'd-ours', 66.6); _result(remote / 'd-ours', 55.0)              # a result of that name here: kept
    _ckpt(remote / 'e-new', 2)                                                      # started there only
    (remote / 'f-empty').mkdir(parents=True); (remote / 'f-empty' / 'spec.json').write_text('{}')
    # the device tool's form: the store's runs/ as a tar.gz cut into pieces
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as t: t.add(remote, arcname='runs')
    b = buf.getvalue(); out = tmp_path / 'out'; out.mkdir()
    (out / 'runs.tgz.00').write_bytes(b[:len(b) // 2]); (out / 'runs.tgz.01').write_bytes(b[len(b) // 2:])
    run = lambda *a: subprocess.run([sys.executable, str(ROOT / 'tools' / 'import_device_runs.py'), *a], capture_output=True, text=True)
    dry = run(str(out), '--runs', str(local), '--dry-run')
    assert dry.returncode == 0, dry.stderr
    assert (local / 'a-done-there' / 'stage1.ckpt').exists() and not (local / 'e-new').exists()   # a dry run changes nothing
    r = run(str(out), '--runs', str(local))
    assert r.returncode == 0, r.stderr
    lines = dict(l.split(': ', 1) for l in r.stdout.strip().splitlines())
    assert lines == {'a-done-there': 'finished, imported', 'b-further': 'unfinished, checkpoint after epoch 184 imported (ours: 86)',
                     'c-behind': 'unfinished there (after epoch 106); ours is after epoch 121: kept ours',
                     'd-ours': 'finished there, but a result of that name is here already: kept ours, not imported',
                     'e-new': 'unfinished, checkpoint after epoch 3 imported (ours: none)', 'f-empty': 'nothing saved there, skipped'}
    assert json.loads((local / 'a-done-there' / 'result.json').read_text())['metrics']['all'] == 69.8
    assert not (local / 'a-done-there' / 'stage1.ckpt').exists() and (local / 'a-done-there' / 'model.pt').read_bytes() == b'weights'
    assert torch.load(local / 'b-further' / 'stage1.ckpt', weights_only=False)['epoch'] == 183
    assert torch.load(local / 'c-behind' / 'stage1.ckpt', weights_only=False)['epoch'] == 120
    assert json.loads((local / 'd-ours' / 'result.json').read_text())['metrics']['all'] == 66.6
    assert not list(local.rglob('*.importing'))
    assert run(str(tmp_path / 'nowhere'), '--runs', str(local)).stderr.strip() == f"no such folder: {tmp_path / 'nowhere'}"
    (tmp_path / 'empty').mkdir()
    assert 'no runs.tgz.NN pieces and no runs/ folder in' in run(str(tmp_path / 'empty'), '--runs', str(local)).stderr
