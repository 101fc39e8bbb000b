"""One run on two processes (`torchrun`, gloo on the CPU; `06a_distributed`): a run whose rank is killed continues from its
last finished epoch when the same command is run again, leaving one result, and that result has the numbers of the same
run in one process. Both are checked on one run, started three times (each launch costs several seconds of imports per rank).

The runs use a tiny 4-class long-tailed image set made here (221 training images of 28 x 28, 200 test images) and LeNet, for
three reasons: LeNet has no BatchNorm (on the CPU each rank would normalise with its own half of the batch: PyTorch's
SyncBatchNorm runs on GPUs only), the MNIST-family protocol has no random augmentation (each rank augments its own images
with its own generator, so with augmentation the two runs would draw different crops), and 221 = 6 x 32 + 29 makes every
epoch end with a global batch that two ranks split unevenly (15 + 14), which is where the loss weighting matters.
`python -m torch.distributed.run` is `torchrun`; the ranks run `csa_nb.pipeline` as `-m csa_nb.pipeline` does (through
`runpy`, after registering the toy set, which the ranks cannot see otherwise)."""
import contextlib, io, json, os, re, subprocess, sys
from pathlib import Path
import pytest
import torch
from csa_nb import data as D, experiments as E
from conftest import corner_squares
from csa_nb.experiments import RunSpec, ResultStore, run_experiment

TESTS = Path(__file__).resolve().parent
TRAIN_COUNTS, TEST_PER_CLASS = [120, 60, 30, 11], 50
PROTOCOL = dict(arch='lenet2', epochs=3, crt_epochs=2, batch_size=32, lr=0.05)   # CE for 3 epochs, then cRT for 2
ARGS = ['train', '--dataset', 'toy-ddp', '--method', 'crt', '--profile', 'cpu', '--device', 'cpu']
# Loss tolerance. The two runs do the same arithmetic in a different order: one process takes the mean loss over 32
# images, two ranks take means over 16 + 16 (or 15 + 14), weight them and average their gradients, so each step differs by
# float32 rounding (about 1e-7 relative), and 51 SGD steps (21 of CE, 30 of cRT) of a small network carry that forward
# without blowing it up.
# The history stores losses rounded to 6 decimals, and a two-rank loss is rounded twice (each rank's, then their
# combination), so one unit of that rounding (1e-6) can separate equal runs: measured on this project's CPU, the largest
# difference over the five epoch losses was 1e-6 absolute (1.9e-6 relative, a loss of 0.52), the others 0. Allowed:
# 2e-6 absolute + 1e-5 relative. A real mistake is far outside: without the weighting of the uneven last batch (15- and
# 14-image means averaged with equal weight) the epoch losses moved by 2.8e-3 to 8.0e-3 relative.
LOSS_ATOL = 2e-6
LOSS_RTOL = 1e-5

def make_toy_ddp(imb_factor=0.01, **kw):
    "4 classes, a bright 8 x 8 square in the class's corner of a noisy 28 x 28 image; 120/60/30/11 training images."
    g = torch.Generator().manual_seed(5)
    (x, y), (tx, ty) = corner_squares(TRAIN_COUNTS, g, 90, 120), corner_squares([TEST_PER_CLASS] * 4, g, 90, 120)
    return D.LTData('toy-ddp', x, y, tx, ty, 4, list(TRAIN_COUNTS), {'many': (0, 1), 'medium': (1, 3), 'few': (3, 4)},
                    source='made by the tests', info={'imb_factor': imb_factor})

def register_toy():
    "Make `toy-ddp` a dataset with its protocol (in this process: pytest's, or a rank's)."
    D.DATASETS['toy-ddp'] = make_toy_ddp
    E.PROTOCOLS['toy-ddp'] = dict(PROTOCOL)

ENTRY = f"""import runpy, sys
sys.path.insert(0, {str(TESTS)!r})
import test_ddp; test_ddp.register_toy()
runpy.run_module('csa_nb.pipeline', run_name='__main__', alter_sys=True)   # what `-m csa_nb.pipeline` runs
"""

def torchrun(tmp: Path, out: Path, env_extra=None) -> subprocess.CompletedProcess:
    "`torchrun --standalone --nproc_per_node 2 <entry> train ... --out out`, one thread per rank."
    entry = tmp / 'entry.py'; entry.write_text(ENTRY)
    env = {k: v for k, v in os.environ.items() if k != 'CSA_KILL_RANK_AFTER_EPOCH'}
    env.update({'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', 'CSA_PROGRESS': 'off', **(env_extra or {})})
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', str(entry), *ARGS, '--out', str(out)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)

def losses(r):
    return [h['loss'] for h in r['history']['stage1']] + [h['loss'] for h in r['history']['crt']]

def results(out: Path) -> list:
    return sorted((out / 'runs').glob('*/result.json'))

@pytest.fixture(scope='module')
def toy_ddp():
    saved = D.DATASETS.get('toy-ddp'), E.PROTOCOLS.get('toy-ddp')
    register_toy()
    yield
    for reg, old in ((D.DATASETS, saved[0]), (E.PROTOCOLS, saved[1])):
        if old is None: reg.pop('toy-ddp', None)
        else: reg['toy-ddp'] = old

@pytest.fixture(scope='module')
def ddp_run(toy_ddp, tmp_path_factory):
    """The two-rank run, started, killed, started, killed and started again: rank 0 (the one that writes) is SIGKILLed
    once CE epoch 0 (of 0-2) is checkpointed, then rank 1 once epoch 1 is; then the same command runs to the end."""
    tmp = tmp_path_factory.mktemp('ddp'); out = tmp / 'out'
    def after(p):
        run_dirs = sorted((out / 'runs').iterdir()) if (out / 'runs').exists() else []
        ck = run_dirs[0] / 'stage1.ckpt' if run_dirs else None
        return {'proc': p, 'results': results(out), 'files': sorted(f.name for d in run_dirs for f in d.iterdir()),
                'ckpt': torch.load(ck, weights_only=False) if ck is not None and ck.exists() else None}
    kills = [after(torchrun(tmp, out, {'CSA_KILL_RANK_AFTER_EPOCH': rank_epoch})) for rank_epoch in ('0:0', '1:1')]
    resumed = torchrun(tmp, out)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return {'kills': kills, 'resumed': resumed, 'out': out,
            'result': json.loads(results(out)[0].read_text()) if results(out) else None}

def test_two_ranks_give_the_single_process_run(ddp_run, tmp_path):
    got, p = ddp_run['result'], ddp_run['resumed']
    threads = torch.get_num_threads(); torch.set_num_threads(1)   # the ranks run one thread each
    try: ref = run_experiment(RunSpec.for_profile('toy-ddp', 'crt', 'cpu'), ResultStore(tmp_path / 'runs'), device='cpu')
    finally: torch.set_num_threads(threads)
    assert got['name'] == ref['name']                              # the same run: its identity does not depend on the ranks
    assert got['distributed'] == {'world_size': 2, 'backend': 'gloo', 'sync_batchnorm': False, 'batchnorm': False}
    assert 'distributed' not in ref
    # the ranks took their halves of every global batch: 6 x 16 + 15 and 6 x 16 + 14 of the 221 images per CE epoch,
    # 15 x 16 each of cRT's 480 class-aware draws per epoch; the records are the global ones
    assert [h['rank_samples'] for h in got['history']['stage1']] == [[111, 110]] * 3
    assert [h['rank_samples'] for h in got['history']['crt']] == [[240, 240]] * 2
    assert [h['samples'] for h in got['history']['stage1']] == [h['samples'] for h in ref['history']['stage1']] == [221] * 3
    assert 'dropped' not in json.dumps(got['history'])
    a, b = torch.tensor(losses(got), dtype=torch.float64), torch.tensor(losses(ref), dtype=torch.float64)
    assert len(a) == 5 and torch.allclose(a, b, rtol=LOSS_RTOL, atol=LOSS_ATOL), (losses(got), losses(ref))
    # accuracies: equal up to one test image whose prediction could flip on a last-bit difference (one image is
    # 100/200 = 0.5 points of All, 100/50 = 2 points of a class)
    for k in ('many', 'medium', 'few'):
        assert abs(got['metrics'][k] - ref['metrics'][k]) <= 100 / TEST_PER_CLASS + 1e-9, (k, got['metrics'][k], ref['metrics'][k])
    assert abs(got['metrics']['all'] - ref['metrics']['all']) <= 100 / (4 * TEST_PER_CLASS) + 1e-9
    assert got['metrics']['all'] > 50                               # it learned something (chance: 25)
    assert p.stdout.count(f'"name": "{got["name"]}"') == 1          # rank 0 alone printed the result

def test_a_killed_rank_resumes_from_the_last_epoch(ddp_run):
    got = ddp_run['result']
    for (rank, epoch), k in zip(((0, 0), (1, 1)), ddp_run['kills']):
        p = k['proc']
        assert p.returncode != 0 and 'exitcode  : -9' in p.stderr, p.stderr[-3000:]   # torchrun reports the SIGKILL
        assert re.search(rf'rank\s*: {rank} \(local_rank: {rank}\)\s*exitcode\s*: -9', p.stderr), p.stderr[-3000:]   # the rank we killed
        assert k['results'] == [] and k['files'] == ['spec.json', 'stage1.ckpt'], p.stderr[-3000:]   # only the spec and the checkpoint
        assert k['ckpt']['epoch'] == epoch and [h['epoch'] for h in k['ckpt']['history']] == list(range(epoch + 1))
    first, second = (k['ckpt'] for k in ddp_run['kills'])
    assert second['history'][:1] == first['history']                   # the second launch resumed after epoch 0, not from scratch
    out = ddp_run['out']                                               # after the same command again:
    assert len(results(out)) == 1 and sorted(f.name for f in results(out)[0].parent.glob('*.ckpt')) == []
    assert [h['epoch'] for h in got['history']['stage1']] == [0, 1, 2] and len(got['history']['crt']) == 2
    assert got['history']['stage1'][:2] == second['history']              # epochs 0-1 come from the checkpoints (their wall
                                                                          # times too): not trained again
    # and the run continued as if uninterrupted: test_two_ranks_give_the_single_process_run compares it with one process

def test_nccl_on_the_cpu_is_one_clear_line(toy_ddp, tmp_path, monkeypatch):
    from csa_nb.pipeline import main
    for k, v in {'WORLD_SIZE': '2', 'RANK': '0', 'LOCAL_RANK': '0', 'CSA_DIST_BACKEND': 'nccl'}.items(): monkeypatch.setenv(k, v)
    err = io.StringIO()
    with contextlib.redirect_stderr(err): code = main(['train', '--dataset', 'toy-ddp', '--method', 'ce', '--device', 'cpu', '--out', str(tmp_path)])
    assert code == 2 and err.getvalue().count('\n') == 1
    assert 'the NCCL backend needs CUDA GPUs' in err.getvalue() and 'set CSA_DIST_BACKEND=gloo' in err.getvalue()
    assert not (tmp_path / 'runs').exists()

def _csa_rank(rank: int, tmp: str, data) -> None:
    "One of two forked ranks: CSA (two streams, per-rank context bank, ResNet-32 with per-rank BatchNorm) through `fit_csa`."
    import torch.distributed as dist
    from csa_nb.csa import CSANet, fit_csa, evaluate_heads
    from csa_nb.models import build_model
    from csa_nb.train import cosine_lr
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{tmp}/store', rank=rank, world_size=2)
    try:
        net = CSANet(build_model('resnet32', 3, data.num_classes, seed=0).backbone, data.num_classes)
        train_prep, test_prep = E.transforms_for(data)
        hist = fit_csa(net, data, epochs=2, lr_fn=cosine_lr(0.05, 2), batch_size=9, start_epoch=1, bank_size=8, fit_threshold=0.0,
                       mixup_alpha=1.0, mixup_off_last=0, prepare=train_prep, evaluate=lambda m: evaluate_heads(m, data, test_prep))
        torch.save({'hist': hist, 'state': net.state_dict()}, f'{tmp}/rank{rank}.pt')
    finally: dist.destroy_process_group()

def test_csa_on_two_ranks_stays_in_step(tmp_path):
    """CSA's two streams on two ranks (forked here, gloo: no imports to pay): every rank ends with the same weights and
    BatchNorm statistics and the same history, the balanced branch ran on both (their banks are their own), and the epoch's
    last global batch of 1 image (64 = 7 x 9 + 1), fewer than the ranks, is skipped and counted."""
    import multiprocessing as mp
    from test_loop_golden import make_toy32
    data = make_toy32()                                       # 64 training images of 3 classes, 32 px
    ctx = mp.get_context('fork')
    procs = [ctx.Process(target=_csa_rank, args=(r, str(tmp_path), data)) for r in range(2)]
    for p in procs: p.start()
    for p in procs: p.join(timeout=240)
    alive = [p for p in procs if p.is_alive()]
    for p in alive: p.kill()
    assert not alive and [p.exitcode for p in procs] == [0, 0], 'a rank hung or failed'
    r0, r1 = (torch.load(tmp_path / f'rank{r}.pt', weights_only=False) for r in range(2))
    assert r0['state'].keys() == r1['state'].keys() and all(torch.equal(r0['state'][k], r1['state'][k]) for k in r0['state'])
    strip = lambda h: [{k: v for k, v in e.items() if k != 'seconds'} for e in h]
    assert strip(r0['hist']) == strip(r1['hist'])
    h0, h1 = r0['hist']
    assert [h0['rank_samples'], h0['dropped'], h0['samples']] == [[35, 28], 1, 64]   # 7 x (5 + 4) images, 1 skipped
    assert h0['loss_balanced'] is None and h0['balanced_samples'] == 0                # before start_epoch: uniform branch only
    assert h1['loss_balanced'] is not None and h1['balanced_samples'] == 63           # then both branches on every batch of both ranks
    assert set(h1['test']) == {'uniform', 'balanced', 'ensemble'}
