"ImageNet-LT / Places-LT split lists: parsing, the frequency relabel and its tie rule, both group definitions, where lists are found, and the errors a user can meet."
from pathlib import Path
import numpy as np
import pytest
from csa_nb import oltr as O
from csa_nb.data import index_groups
from conftest import REAL_MIRROR

# 24 classes, long-tailed, listed under scrambled original indices. Original class -> training images.
# Ties: old 5 and 17 both have 60, old 2 and 9 both have 20 (the stable rule puts the lower old index first).
OLD_COUNTS = {11: 300, 3: 180, 20: 120, 7: 101, 17: 60, 5: 60, 0: 100, 14: 45, 22: 30, 9: 20, 2: 20, 19: 19,
              1: 15, 8: 12, 23: 10, 6: 9, 13: 8, 4: 7, 16: 6, 21: 5, 10: 4, 15: 3, 12: 2, 18: 1}
# the new order by hand: descending count, ties by old index
NEW_ORDER = [11, 3, 20, 7, 0, 5, 17, 14, 22, 2, 9, 19, 1, 8, 23, 6, 13, 4, 16, 21, 10, 15, 12, 18]

def write_list(path: Path, counts: dict, prefix='train', shuffle_seed=0) -> Path:
    rows = [f'{prefix}/class{c:02d}/{i:05d}.jpg {c}' for c, n in counts.items() for i in range(n)]
    np.random.RandomState(shuffle_seed).shuffle(rows)
    path.write_text('\n'.join(rows) + '\n')
    return path

@pytest.fixture
def toy_list(tmp_path):
    return write_list(tmp_path / 'toy_train.txt', OLD_COUNTS)

def test_read_and_stats(toy_list):
    paths, y = O.read_split_list(toy_list)
    assert len(paths) == len(y) == sum(OLD_COUNTS.values()) == 1137
    assert y.dtype == np.int64 and all(p.startswith(f'train/class{c:02d}/') for p, c in zip(paths, y))
    assert O.split_list_stats(y) == dict(images=1137, classes=24, largest=300, smallest=1)

def test_relabel_is_descending_with_stable_ties(toy_list):
    _, y = O.read_split_list(toy_list)
    class_map, counts = O.frequency_relabel(y)
    assert [int(np.where(class_map == new)[0][0]) for new in range(24)] == NEW_ORDER
    assert counts.tolist() == [OLD_COUNTS[c] for c in NEW_ORDER] == sorted(OLD_COUNTS.values(), reverse=True)
    assert class_map[0] == 4 and class_map[5] == 5 and class_map[17] == 6     # the 60-image tie: old 5 before old 17
    assert class_map[2] == 9 and class_map[9] == 10                           # the 20-image tie: old 2 before old 9
    new = O.apply_relabel(y, class_map)
    assert np.bincount(new).tolist() == counts.tolist()
    assert O.apply_relabel([11, 18, 5], class_map).tolist() == [0, 23, 5]    # test labels take the same map

def test_relabel_does_not_depend_on_listing_order(tmp_path):
    a = O.read_split_list(write_list(tmp_path / 'a.txt', OLD_COUNTS, shuffle_seed=1))[1]
    b = O.read_split_list(write_list(tmp_path / 'b.txt', OLD_COUNTS, shuffle_seed=2))[1]
    assert O.frequency_relabel(a)[0].tolist() == O.frequency_relabel(b)[0].tolist()

def test_groups_by_index_and_by_count(toy_list):
    _, y = O.read_split_list(toy_list)
    _, counts = O.frequency_relabel(y)
    g = O.lt_groups(counts)
    # 24 classes is no paper dataset: index_groups falls back to 30% / 40% / 30% of the classes
    assert g['index'] == index_groups(24) == {'many': (0, 7), 'medium': (7, 17), 'few': (17, 24)}
    # count rule by hand: > 100 -> 300,180,120,101; 20..100 -> 100,60,60,45,30,20,20; < 20 -> the rest
    assert g['count'] == {'many': [0, 1, 2, 3], 'medium': [4, 5, 6, 7, 8, 9, 10], 'few': list(range(11, 24))}
    assert O.group_sizes(g['index']) == {'many': 7, 'medium': 10, 'few': 7}
    assert O.group_sizes(g['count']) == {'many': 4, 'medium': 7, 'few': 13}
    assert O.lt_groups([5] * 365)['index'] == {'many': (0, 131), 'medium': (131, 288), 'few': (288, 365)}
    assert O.lt_groups([5] * 1000)['index'] == {'many': (0, 390), 'medium': (390, 835), 'few': (835, 1000)}

@pytest.mark.parametrize('line, says', [('train/a/x.jpg', "expected 'relative/path label'"),
                                        ('train/a b/x.jpg 3', "expected 'relative/path label'"),
                                        ('train/a/x.jpg 3.0', "label '3.0' is not an integer"),
                                        ('train/a/x.jpg -1', 'label -1 outside')])
def test_malformed_line_names_file_and_line(tmp_path, line, says):
    bad = tmp_path / 'Places_LT_train.txt'
    bad.write_text(f'train/a/1.jpg 0\n\ntrain/a/2.jpg 1\n{line}\ntrain/a/3.jpg 1\n')
    with pytest.raises(ValueError) as e: O.read_split_list(bad)
    msg = str(e.value)
    assert msg.startswith(f'{bad}:4: ') and says in msg and '\n' not in msg

def test_label_out_of_range_and_binary_file(tmp_path):
    p = tmp_path / 'l.txt'; p.write_text('a.jpg 0\nb.jpg 365\n')
    with pytest.raises(ValueError, match=r'l\.txt:2: label 365 outside 0\.\.364'): O.read_split_list(p, 365)
    p.write_bytes(b'a.jpg 0\n\xff\xfe\x00 1\n')
    with pytest.raises(ValueError, match=r'l\.txt:2: not UTF-8'): O.read_split_list(p)
    p.write_text('\n\n')
    with pytest.raises(ValueError, match='holds no images'): O.read_split_list(p)

def test_missing_list_names_file_folders_and_mirror(tmp_env):
    with pytest.raises(FileNotFoundError) as e: O.read_split_list(tmp_env / 'nope.txt')
    assert 'nope.txt' in str(e.value) and 'CSA_DATA_MIRROR' in str(e.value)
    mirror = tmp_env / 'mirror'; (mirror / 'lt_splits').mkdir(parents=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('CSA_DATA_MIRROR', str(mirror))
        with pytest.raises(FileNotFoundError) as e: O.find_split_list('ImageNet_LT_train.txt')
        msg = str(e.value)
        assert 'ImageNet_LT_train.txt' in msg and str(mirror / 'lt_splits') in msg and str(tmp_env / 'data' / 'lt_splits') in msg
        assert 'CSA_DATA_MIRROR is now ' + str(mirror) in msg
    with pytest.MonkeyPatch.context() as mp:   # no mirror: a download is tried (here from a folder that does not exist)
        mp.setattr(O, 'SPLIT_LIST_URL', (tmp_env / 'offline').as_uri() + '/')
        with pytest.raises(FileNotFoundError, match='Places_LT_test.txt could not be downloaded from file://.*CSA_DATA_MIRROR is now unset'):
            O.find_split_list('Places_LT_test.txt')
    assert not (tmp_env / 'data' / 'lt_splits' / 'Places_LT_test.txt').exists()
    with pytest.raises(ValueError, match='valid choices: imagenet-lt, places-lt'): O.load_split_lists('inaturalist')

def test_a_list_found_nowhere_is_downloaded_checked_and_reported(tmp_env, monkeypatch):
    import hashlib
    remote = tmp_env / 'remote'; remote.mkdir()
    write_list(remote / 'Places_LT_test.txt', {0: 2, 1: 1})
    body = (remote / 'Places_LT_test.txt').read_bytes()
    monkeypatch.setattr(O, 'SPLIT_LIST_URL', remote.as_uri() + '/')
    monkeypatch.setitem(O.SPLIT_LIST_CHECKS, 'Places_LT_test.txt',
                        dict(md5=hashlib.md5(body).hexdigest(), stats=dict(images=3, classes=2, largest=2, smallest=1)))
    p, how = O.find_split_list('Places_LT_test.txt')                   # no mirror, nowhere: downloaded into CSA_DATA
    assert p == tmp_env / 'data' / 'lt_splits' / 'Places_LT_test.txt' and p.read_bytes() == body
    assert how.startswith('downloaded from file://') and how.endswith(f'md5 {hashlib.md5(body).hexdigest()}, md5 as pinned, statistics as published')
    assert O.find_split_list('Places_LT_test.txt')[1] == f'CSA_DATA/lt_splits/Places_LT_test.txt, {how}'   # found later: still says so
    p.write_text(p.read_text() + 'train/class09/x.jpg 9\n')              # edited since: the note no longer applies
    assert O.find_split_list('Places_LT_test.txt')[1] == f"CSA_DATA/lt_splits/Places_LT_test.txt, md5 {O.file_digest(p)['md5']}"
    p.write_bytes(body)
    O.SPLIT_LIST_CHECKS['Places_LT_test.txt']['stats'] = dict(images=4, classes=2, largest=2, smallest=1)
    with pytest.raises(ValueError, match='not the published'): O.fetch_split_list('Places_LT_test.txt', tmp_env / 'again')
    assert list((tmp_env / 'again').iterdir()) == []

def test_provenance_mirror_data_and_given_folder(tmp_env, monkeypatch):
    mirror = tmp_env / 'mirror' / 'lt_splits'; mirror.mkdir(parents=True)
    write_list(mirror / 'Places_LT_test.txt', {0: 2})
    monkeypatch.setenv('CSA_DATA_MIRROR', str(tmp_env / 'mirror'))
    p, how = O.find_split_list('Places_LT_test.txt')
    assert p == mirror / 'Places_LT_test.txt' and how.startswith('CSA_DATA_MIRROR/lt_splits/Places_LT_test.txt, md5 ') and str(tmp_env) not in how
    own = tmp_env / 'data' / 'lt_splits'; own.mkdir(parents=True); write_list(own / 'Places_LT_test.txt', {0: 3})
    assert O.find_split_list('Places_LT_test.txt')[1].startswith('CSA_DATA/lt_splits/')            # CSA_DATA is searched first
    given = tmp_env / 'given'; given.mkdir()
    with pytest.raises(FileNotFoundError, match='given folder'): O.find_split_list('Places_LT_test.txt', given)  # no fallback

def test_load_imagenet_lt_from_generated_lists(tmp_path):
    # ImageNet-LT shaped: 1,000 classes, counts 60 down to 1 under a scrambled original numbering, 2 test images each
    rng = np.random.RandomState(3)
    counts = np.maximum(1, (60 * 0.02 ** (np.arange(1000) / 999)).astype(int))
    old = rng.permutation(1000)
    write_list(tmp_path / 'ImageNet_LT_train.txt', {int(old[k]): int(counts[k]) for k in range(1000)})
    write_list(tmp_path / 'ImageNet_LT_test.txt', {c: 2 for c in range(1000)}, prefix='val')
    d = O.load_split_lists('imagenet-lt', tmp_path)
    assert d.num_classes == 1000 and d.counts == sorted(counts.tolist(), reverse=True)
    assert np.bincount(d.train_y, minlength=1000).tolist() == d.counts
    assert np.bincount(d.test_y, minlength=1000).tolist() == [2] * 1000
    assert d.groups == {'many': (0, 390), 'medium': (390, 835), 'few': (835, 1000)}
    assert d.source.startswith('train: given folder, ImageNet_LT_train.txt, md5 ') and '; test: given folder, ImageNet_LT_test.txt, md5 ' in d.source
    assert str(tmp_path) not in d.source
    assert O.split_list_stats(d.train_y) == dict(images=int(counts.sum()), classes=1000, largest=60, smallest=1)
    # the same image keeps its label through the relabel
    _, raw = O.read_split_list(tmp_path / 'ImageNet_LT_train.txt')
    assert (d.class_map[raw] == d.train_y).all()
    # a training list with a label beyond the benchmark's classes is refused with its line
    (tmp_path / 'ImageNet_LT_train.txt').write_text('train/x/1.jpg 0\ntrain/x/2.jpg 1000\n')
    with pytest.raises(ValueError, match=r'ImageNet_LT_train\.txt:2: label 1000 outside 0\.\.999'): O.load_split_lists('imagenet-lt', tmp_path)

@pytest.mark.skipif(not REAL_MIRROR, reason='CSA_DATA_MIRROR is not set')
def test_real_mirror_lists(monkeypatch):
    monkeypatch.setenv('CSA_DATA_MIRROR', REAL_MIRROR)
    lists = Path(REAL_MIRROR) / 'lt_splits'
    if not (lists / 'Places_LT_train.txt').is_file(): pytest.skip(f'no Places-LT lists in {lists}')
    pl = O.load_split_lists('places-lt', lists)
    assert O.split_list_stats(pl.train_y) == dict(images=62500, classes=365, largest=4980, smallest=5)
    assert O.split_list_stats(pl.test_y) == dict(images=36500, classes=365, largest=100, smallest=100)
    g = O.lt_groups(pl.counts)
    assert O.group_sizes(g['index']) == {'many': 131, 'medium': 157, 'few': 77}
    assert O.group_sizes(g['count']) == {'many': 131, 'medium': 163, 'few': 71}
    assert O.find_split_list('Places_LT_train.txt', lists)[1].startswith('given folder, Places_LT_train.txt, md5 ')
    if (lists / 'ImageNet_LT_test.txt').is_file():
        _, y = O.read_split_list(lists / 'ImageNet_LT_test.txt', 1000)
        assert O.split_list_stats(y) == dict(images=50000, classes=1000, largest=50, smallest=50)
    if not (lists / 'ImageNet_LT_train.txt').is_file():
        with pytest.raises(FileNotFoundError, match='ImageNet_LT_train.txt not found'): O.load_split_lists('imagenet-lt', lists)
