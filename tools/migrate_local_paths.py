"""One-off migration (issue: provenance without local paths): rewrite committed run files so that none holds
the absolute path of the machine that made it. `spec.images` becomes the file's name; the result's provenance gains
the file's name and MD5 (`csa_nb.core.file_digest`) when the file can be found by name in $CSA_DATA_MIRROR or --images.
Run identities are unchanged: a run's hash always used the file's name only.

    python tools/migrate_local_paths.py [--images PATH] [--root outputs]
"""
import argparse, json, os
from pathlib import Path
from csa_nb.core import atomic_write_json, file_digest

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--root', default='outputs'); ap.add_argument('--images', default=None)
    a = ap.parse_args(argv)
    mirror = os.environ.get('CSA_DATA_MIRROR')
    digests, changed = {}, 0
    def digest(name):
        if name not in digests:
            cands = [Path(a.images)] if a.images else []
            if mirror: cands.append(Path(mirror) / name)
            hit = next((p for p in cands if p.name == name and p.exists()), None)
            digests[name] = file_digest(hit) if hit else None
        return digests[name]
    for p in sorted(Path(a.root).glob('runs/*/*.json')):
        d = json.loads(p.read_text()); before = json.dumps(d)
        spec = d.get('spec', d) if p.name == 'result.json' else d
        if isinstance(spec, dict) and isinstance(spec.get('images'), str) and spec['images'].startswith('/'):
            spec['images'] = Path(spec['images']).name
        if p.name == 'result.json' and spec.get('images') and 'images' not in d.get('provenance', {}):
            dg = digest(spec['images'])
            if dg: d.setdefault('provenance', {})['images'] = {**dg, 'note': 'added afterwards from the file of that name'}
        if json.dumps(d) != before: atomic_write_json(p, d); changed += 1
    print(f'rewrote {changed} files; digests: {digests}')

if __name__ == '__main__': main()
