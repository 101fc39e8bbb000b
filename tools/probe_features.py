"""Linear probe of finished runs' representations: cRT (the `crt` method's stage 2, same settings) on each run's frozen backbone;
and how well each run's own stage-1 model fits its training images.

    python tools/probe_features.py --images PATH/cifar10-jpeg.tar.gz --profile cpu ce cb-focal ce-drw

For every method named, the finished run of that method (CIFAR-10-LT ratio 100, seed 0, the given profile) must have its
`model.pt`. The classifier is re-trained exactly as the `crt` method re-trains CE's: a copy of the run's head (of a CSA run: the head it
reports, on its shared backbone), its crt_epochs
(10) of class-aware sampling on cached un-augmented features, cosine learning rate from the spec's lr, SGD with its momentum and weight
decay. Each row also gives the fit: the stage-1 model's top-1 accuracy, per class, on the un-augmented training images it
was trained on. `--check` first re-derives a committed cRT result this way (the probe of the `ce` backbone must equal the
`crt` run).
Writes `outputs/analysis/feature_probe_<profile>.json` and `.md` (atomically); no run or result is changed. Rows of runs probed
earlier (same profile and image file) are kept and the named ones replaced, so one new method costs one probe; `--fresh` starts over.
"""
import argparse, json, sys, time
from pathlib import Path
import torch
from csa_nb.core import outputs_root, atomic_write_json, atomic_write_text
from csa_nb.experiments import RunSpec, ResultStore, load_trained, transforms_for
from csa_nb.train import retrain_classifier, cosine_lr, METHODS
from csa_nb.metrics import predict, per_class_accuracy
from csa_nb.csa import CSANet

class OneHead(torch.nn.Module):
    "A two-branch CSA network seen through one of its heads: `backbone` and `head`, as the probe and cRT expect."
    def __init__(self, backbone, head):
        super().__init__(); self.backbone, self.head = backbone, head
    def forward(self, x): return self.head(self.backbone(x))

def reported_head(model: CSANet, method: str) -> OneHead:
    "The CSA network `model` through the head that `method` reports (its uniform or balanced head; the ensemble has no head of its own)."
    heads = {'uniform': model.head_u, 'balanced': model.head_b}
    pred = METHODS[method].predictor
    if pred not in heads: raise SystemExit(f"{method}: the probe needs the reported predictor to be one head (uniform or balanced), not {pred!r}")
    return OneHead(model.backbone, heads[pred])

def probe(spec: RunSpec, store: ResultStore) -> dict:
    model, data = load_trained(spec, store, 'cpu')
    if isinstance(model, CSANet): model = reported_head(model, spec.method)   # CSA: its shared backbone, starting from the reported head
    if not isinstance(getattr(model, 'head', None), torch.nn.Linear):
        raise SystemExit(f"{spec.name}: the probe needs a plain linear head (method {spec.method!r} has {type(getattr(model, 'head', None)).__name__})")
    t0 = time.perf_counter()
    pred = predict(model, data.train_x, transforms_for(data)[1]).argmax(1)
    fit = dict(all=round(float((pred == data.train_y).double().mean()) * 100, 2),
               per_class=[round(float(a) * 100, 1) for a in per_class_accuracy(pred, data.train_y, data.num_classes)])
    n = RunSpec.for_profile(spec.dataset, 'crt', spec.profile, imb_factor=spec.imb_factor, images=spec.images).crt_epochs   # the crt method's own
    _, hist = retrain_classifier(model, data, epochs=n, lr_fn=cosine_lr(spec.lr, n), batch_size=spec.batch_size, seed=spec.seed,
                                 prepare=transforms_for(data)[1], momentum=spec.momentum or 0.0, weight_decay=spec.weight_decay or 0.0,
                                 desc=f'probe {spec.method}')
    m = hist[-1]['test']
    return dict(run=spec.name, method=spec.method, params=dict(spec.params or ()), epochs=spec.epochs, stage1=store.load(spec)['stage1_metrics'], fit=fit,
                probe={k: m[k] for k in ('all', 'many', 'medium', 'few', 'per_class')}, seconds=round(time.perf_counter() - t0, 1))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('methods', nargs='+'); ap.add_argument('--images', required=True); ap.add_argument('--profile', default='cpu')
    ap.add_argument('--check', action='store_true', help="also re-derive the committed crt result of the same profile from the ce backbone")
    ap.add_argument('--fresh', action='store_true', help="drop the rows of earlier probes instead of keeping them")
    a = ap.parse_args(argv)
    unknown = [m for m in a.methods if m not in METHODS]
    if unknown: raise SystemExit(f"unknown method(s) {', '.join(unknown)}; valid: {', '.join(METHODS)}")
    torch.set_num_threads(1)
    store = ResultStore(outputs_root() / 'runs')
    spec = lambda m: RunSpec.for_profile('cifar10-lt', m, a.profile, images=a.images)
    rows, check = [], None
    if a.check:
        ce, crt = spec('ce'), spec('crt')
        r = probe(ce, store); ref = store.load(crt)['metrics']['all']
        check = dict(crt_run=crt.name, committed=ref, probe=r['probe']['all'], equal=abs(ref - r['probe']['all']) < 0.05)
        print(f"check: cRT of {crt.name} committed {ref}, re-derived {r['probe']['all']}", file=sys.stderr)
        rows.append(r)
    for m in a.methods:
        s = spec(m)
        if not store.has(s): raise SystemExit(f"run {s.name} has not finished (outputs/runs/{s.name}/result.json missing)")
        if any(r['run'] == s.name for r in rows): continue
        rows.append(probe(s, store)); print(f"{s.name}: stage 1 {rows[-1]['stage1']['all']}, probe {rows[-1]['probe']['all']}", file=sys.stderr)
    out = outputs_root() / 'analysis'; out.mkdir(parents=True, exist_ok=True)
    old = out / f'feature_probe_{a.profile}.json'
    if old.exists() and not a.fresh:
        prev = json.loads(old.read_text())
        if prev.get('images') == Path(a.images).name:   # earlier rows kept in their order, the runs probed now replaced or added
            merged = {r['run']: r for r in prev['rows']}; merged.update({r['run']: r for r in rows}); rows = list(merged.values())
            check = check or prev.get('check')
    res = dict(profile=a.profile, images=Path(a.images).name, check=check, rows=rows, torch=torch.__version__)
    atomic_write_json(out / f'feature_probe_{a.profile}.json', res)
    md = [f"# Linear probe of the representations (profile `{a.profile}`, CIFAR-10-LT ratio 100, seed 0, {Path(a.images).name})", '',
          "cRT's stage 2 (10 epochs of class-aware sampling on frozen, un-augmented features; `tools/probe_features.py`) on each run's backbone: "
          "how good the features are once the classifier is re-balanced, whatever the stage-1 loss did to the classifier.", '',
          "Fit: the run's own stage-1 model on its un-augmented training images (top-1 %), over all of them and on the rarest "
          "class (the last one).", '',
          '| run | method | epochs | stage 1 All | probe All | Many | Medium | Few | fit All | fit, rarest class |', '| --- ' * 10 + '|']
    fit = lambda r: (f"{r['fit']['all']:.1f} | {r['fit']['per_class'][-1]:.1f}" if 'fit' in r
                     else 'not measured | not measured')   # rows probed before the fit was added (their model.pt is gone)
    for r in rows:
        st1, defaults = METHODS[r['method']].stage1, dict(METHODS[r['method']].defaults)
        other = ', '.join(f'{k}={v}' for k, v in r.get('params', {}).items() if defaults.get(k) != v)   # a run with non-default parameters
        name = r['method'] + (f' (its stage 1: {st1})' if st1 else '') + (f' ({other})' if other else '')
        p = r['probe']; md.append(f"| {r['run']} | {name} | {r['epochs']} | {r['stage1']['all']:.2f} | {p['all']:.2f} | "
                                  f"{p['many']:.1f} | {p['medium']:.1f} | {p['few']:.1f} | {fit(r)} |")
    if check: md += ['', f"Check: the probe of the `ce` backbone re-derives the committed cRT run {check['crt_run']}: "
                         f"{check['probe']:.2f} against {check['committed']:.2f}."]
    atomic_write_text(out / f'feature_probe_{a.profile}.md', '\n'.join(md) + '\n')
    print('\n'.join(md))

if __name__ == '__main__': main()
