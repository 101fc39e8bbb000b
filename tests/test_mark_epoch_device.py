"Naming the device of checkpointed epochs saved before train_loop recorded it, and counting epochs per device in a result."
import subprocess, sys
from pathlib import Path
import torch
from csa_nb.experiments import epochs_by_device

ROOT = Path(__file__).resolve().parents[1]

def test_marks_only_unmarked_epochs_and_is_idempotent(tmp_path):
    p = tmp_path / 'stage1.ckpt'
    hist = [{'epoch': 0, 'seconds': 5.3}, {'epoch': 1, 'seconds': 5.2}, {'epoch': 2, 'seconds': 37.0, 'device': 'cpu (x86_64, 2 threads)'}]
    torch.save({'model': {}, 'history': hist, 'epoch': 2}, p)
    run = lambda *a: subprocess.run([sys.executable, str(ROOT / 'tools' / 'mark_epoch_device.py'), *a], capture_output=True, text=True)
    r = run('NVIDIA H200', str(p))
    assert r.returncode == 0 and '2 epochs marked' in r.stdout
    st = torch.load(p, weights_only=False)
    assert [h['device'] for h in st['history']] == ['NVIDIA H200', 'NVIDIA H200', 'cpu (x86_64, 2 threads)']
    assert st['epoch'] == 2 and st['history'][0]['seconds'] == 5.3
    assert epochs_by_device(st['history']) == {'NVIDIA H200': 2, 'cpu (x86_64, 2 threads)': 1}
    assert '0 epochs marked' in run('NVIDIA H200', str(p)).stdout
    bad = run('NVIDIA H200', str(tmp_path / 'none.ckpt'))
    assert bad.returncode != 0 and 'no checkpoint at' in bad.stderr

def test_epochs_by_device_counts_old_records_as_unrecorded():
    assert epochs_by_device([{'epoch': 0}, {'epoch': 1, 'device': 'NVIDIA H200'}]) == {'unrecorded': 1, 'NVIDIA H200': 1}

def test_table2_marks_a_run_trained_on_two_devices():
    import pandas as pd
    from csa_nb.experiments import _devices_text, table2_markdown
    assert _devices_text({'NVIDIA H200': 103, 'cpu (x86_64, 2 threads)': 97}) == '103 epochs on NVIDIA H200, 97 on cpu (x86_64, 2 threads)'
    assert _devices_text({'cpu': 30}) == '' == _devices_text({})
    row = dict(dataset='cifar10-lt', imbalance=100, method='ce-drs', seed=0, all=70.0, many=80.0, medium=70.0, few=60.0, predictor='',
               paper=75.6, diff=-5.6, profile='paper', epochs=200, data_source='image folder x', wall_seconds=100.0, seconds_per_epoch=20.0,
               device='cpu', step_order='')
    one, two = (table2_markdown(pd.DataFrame([dict(row, devices=d)]), 'cpu') for d in ('', '103 epochs on NVIDIA H200, 97 on cpu'))
    assert '‡' not in one
    assert '| CE-DRS ‡ |' in two and '‡ ce-drs (200 ep): resumed from its checkpoint on another machine, 103 epochs on NVIDIA H200, 97 on cpu;' in two

def test_table2_marks_a_run_trained_wholly_on_another_kind_of_device():
    import pandas as pd
    from csa_nb.experiments import table2_markdown
    row = dict(dataset='cifar10-lt', imbalance=100, seed=0, all=70.0, many=80.0, medium=70.0, few=60.0, predictor='', paper=None, diff=None,
               profile='paper', epochs=200, data_source='image folder x', wall_seconds=100.0, seconds_per_epoch=20.0, step_order='', devices='')
    df = pd.DataFrame([dict(row, method='ce', device='cpu (x86_64, 1 threads)'), dict(row, method='cb-rs', device='cpu (x86_64, 2 threads)'),
                       dict(row, method='ce-drw', device='NVIDIA H200')])
    md = table2_markdown(df, 'paper')
    assert '| CE-DRW ‡ |' in md and '| CE |' in md and '| CB-RS (beyond the paper) |' in md   # thread counts are not another device
    assert '‡ ce-drw (200 ep): every epoch on NVIDIA H200, not the cpu most rows trained on;' in md and md.count('‡') == 2

