"Every registered method runs end to end through run_experiment on tiny data the test makes, and does what its definition says."
import json, sys
from pathlib import Path
import pytest
import torch
sys.path.insert(0, str(Path(__file__).parent))
from test_loop_golden import make_toy32, TOY32
from csa_nb import data as D, experiments as E
from csa_nb.experiments import RunSpec, ResultStore, run_experiment
from csa_nb.train import METHODS, get_method


NEEDS = {'rs-gamma': {'gamma': 0.5}}

@pytest.mark.parametrize('name', [n for n, m in METHODS.items() if n not in ('ce', 'crt', 'cb-rs', 'csa', 'csa-mixup') and m.step is None])
# ce, crt, cb-rs, csa, csa-mixup: the golden test; methods with a step of their own: their notebook's test file runs them end to end
def test_method_runs_on_tiny_data(name, toy32, tmp_path):
    torch.set_num_threads(1)
    m = get_method(name)
    spec = RunSpec.for_profile('toy32-lt', name, 'cpu', **NEEDS.get(name, {}))
    r = run_experiment(spec, ResultStore(tmp_path))
    losses = [h['loss'] for h in r['history']['stage1']]
    assert all(l == l and l < 50 for l in losses) and len(losses) == 5
    assert r['metrics']['all'] >= 0 and [list(p) for p in r['spec']['params'] or []] == [list(p) for p in m.defaults and sorted(m.defaults) or []]
    numeric = [k for k, v in m.defaults if isinstance(v, (int, float))]
    if numeric: assert spec.name != RunSpec.for_profile('toy32-lt', name, 'cpu', params=((numeric[0], 0.123),)).name
    if m.head == 'normed':
        state = torch.load(ResultStore(tmp_path).run_dir(spec) / 'model.pt', weights_only=False)['model']
        assert 'head.weight' in state and 'head.bias' not in state          # the cosine classifier has no bias
    if m.defer == 'resample': assert r['history']['stage1'][4]['samples'] == r['history']['stage1'][0]['samples']

def test_deferred_switch_changes_training_at_the_epoch(toy32, tmp_path):
    "CE-DRW equals CE, loss for loss, until the switch epoch (int(0.8 x 5) = 4), then differs."
    torch.set_num_threads(1)
    ce = run_experiment(RunSpec.for_profile('toy32-lt', 'ce', 'cpu'), ResultStore(tmp_path))
    drw = run_experiment(RunSpec.for_profile('toy32-lt', 'ce-drw', 'cpu'), ResultStore(tmp_path))
    a, b = [h['loss'] for h in ce['history']['stage1']], [h['loss'] for h in drw['history']['stage1']]
    assert a[:4] == b[:4] and a[4] != b[4]

def test_unknown_parameter_and_method_name_the_choices():
    with pytest.raises(ValueError, match='valid choices: ldam_max_m, ldam_s, cb_beta, defer_at'):
        RunSpec('cifar10-lt', 'ldam-drw', arch='resnet32', params=(('margin', 1),))
    with pytest.raises(ValueError, match="valid choices: none"): RunSpec('mnist-lt', 'ce', params=(('x', 1),))
    with pytest.raises(ValueError, match='ldam-drw'): RunSpec('mnist-lt', 'bbn-xyz')

def test_table2_plans_every_method_marked_for_it():
    from csa_nb.pipeline import target_specs
    cpu = [s.method for s in target_specs('table2', 'cpu')]
    assert cpu == [m.name for m in METHODS.values() if m.in_table2] and {'focal', 'ldam-drw', 'la'} <= set(cpu)
    assert len(target_specs('table2', 'paper')) == 6 * len(cpu)
    assert [s.method for s in target_specs('table2', 'smoke')] == ['ce', 'crt', 'cb-rs', 'csa']   # one smoke run per kind

def test_a_new_method_is_one_definition(toy32, tmp_path):
    """Adding a method takes one `Method(...)` when its parts are registered: here focal loss with deferred re-sampling.
    With no other line, its name is valid for run specs and the CLI, its defaults name its runs, and it trains through the
    one loop: loss for loss equal to `focal` until its switch epoch (int(0.8 x 5) = 4), different from there on."""
    from csa_nb.pipeline import _parser
    from csa_nb.train import Method, register_method
    torch.set_num_threads(1)
    register_method(Method('focal-drs', 'Focal-DRS', 'focal loss; class-balanced re-sampling from epoch E', loss='focal', defer='resample',
                           defaults=(('focal_form', 'sigmoid'), ('focal_gamma', 1.0), ('defer_at', 0.8)), source='Lin et al. 2017; Cao et al. 2019'))
    try:
        assert 'focal-drs' in _parser()._subparsers._group_actions[0].choices['train'].format_help()
        with pytest.raises(ValueError, match='focal-drs'): RunSpec('mnist-lt', 'focal-drss')
        spec = RunSpec.for_profile('toy32-lt', 'focal-drs', 'cpu')
        assert dict(spec.params) == {'focal_form': 'sigmoid', 'focal_gamma': 1.0, 'defer_at': 0.8}
        with pytest.raises(ValueError, match='valid choices: softmax, sigmoid'): RunSpec.for_profile('toy32-lt', 'focal-drs', 'cpu', params=(('focal_form', 'tanh'),))
        new = run_experiment(spec, ResultStore(tmp_path))
        old = run_experiment(RunSpec.for_profile('toy32-lt', 'focal', 'cpu'), ResultStore(tmp_path))
        a, b = [h['loss'] for h in old['history']['stage1']], [h['loss'] for h in new['history']['stage1']]
        assert a[:4] == b[:4] and a[4] != b[4] and new['method'] == 'focal loss; class-balanced re-sampling from epoch E'
    finally:
        METHODS.pop('focal-drs')
