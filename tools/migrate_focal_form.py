"""Give the committed softmax focal-loss runs the name they have now that `focal_form` is a parameter.

The `focal` and `cb-focal` methods first trained a softmax focal loss and had no `focal_form` parameter. Since the
parameter exists (default 'sigmoid', Cui et al. 2019's form), a run's spec must say which form it trained. This script
finds finished runs of those methods whose spec has no `focal_form`, adds `focal_form=softmax` (what they trained),
renames the run folder to the name that spec now has, and rewrites the run names in `spec.json`, `result.json` and the
probe tables under `outputs/analysis/`. Their metrics and histories are not touched. Running it twice changes nothing.

    python tools/migrate_focal_form.py            # prints what it moves
"""
import json, os
from csa_nb.core import outputs_root, atomic_write_json
from csa_nb.experiments import RunSpec

def spec_of(d: dict) -> RunSpec:
    d = dict(d)
    for k in ('params', 'milestones'):
        if d.get(k) is not None: d[k] = tuple(tuple(p) if isinstance(p, list) else p for p in d[k])
    return RunSpec(**d)

def main():
    runs, moved = outputs_root() / 'runs', {}
    for rd in sorted(p for p in runs.iterdir() if (p / 'result.json').exists()):
        res = json.loads((rd / 'result.json').read_text())
        sd = res['spec']
        if sd['method'] not in ('focal', 'cb-focal') or 'focal_form' in dict(sd.get('params') or ()): continue
        sd = {**sd, 'params': [*(sd.get('params') or ()), ['focal_form', 'softmax']]}
        spec = spec_of(sd)
        new = runs / spec.name
        if new.exists(): raise SystemExit(f"{new} exists already; not moving {rd.name}")
        res['name'], res['spec'] = spec.name, {**spec.to_dict(), 'profile': res['spec']['profile']}
        atomic_write_json(rd / 'result.json', res)
        atomic_write_json(rd / 'spec.json', res['spec'])
        os.replace(rd, new); moved[rd.name] = spec.name
        print(f"{rd.name} -> {spec.name}")
    for p in sorted((outputs_root() / 'analysis').glob('feature_probe_*.json')):
        d = json.loads(p.read_text())
        hit = [r for r in d['rows'] if r['run'] in moved]
        for r in hit: r['run'] = moved[r['run']]; r['params'] = {'focal_form': 'softmax'}
        if hit:
            atomic_write_json(p, d); print(f"{p.name}: {len(hit)} row(s) renamed")
            md = p.with_suffix('.md'); t = md.read_text()
            for a, b in moved.items(): t = t.replace(a, b)
            md.write_text(t)
    if not moved: print('nothing to migrate')

if __name__ == '__main__': main()
