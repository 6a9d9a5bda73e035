"`steer train`, `steer tune` and `steer evaluate` end to end through the console script, on the embedded model"
import json, os, re, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
STEER = Path(sys.executable).parent/'steer'


def _steer(*args, cwd=ROOT):
    env = {**os.environ, 'PYTHONWARNINGS': 'ignore', 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '2')}
    return subprocess.run([str(STEER), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "One small vector: 8 tom pairs at layers 12 and 14, the last 6 pairs held out (hyphenated option spellings)"
    out = tmp_path_factory.mktemp('vectors')
    run = _steer('train', '--contrast-type', 'tom', '--layers', '12,14', '--num-samples', '8', '--num-heldout', '6',
                 '--output-dir', out, '--no-progress', '--batch-size', '4')
    assert run.returncode == 0, run.stderr
    return out, run


def test_train_writes_three_files_with_provenance(trained):
    out, run = trained
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 3, files
    stems = {re.sub(r'\.(safetensors|json|pkl)$', '', f) for f in files}
    assert len(stems) == 1
    stem = stems.pop()
    assert re.fullmatch(r'tom_smollm2-135m-instruct_layers-12-14_\d{8}_\d{6}', stem), stem
    assert {Path(f).suffix for f in files} == {'.safetensors', '.json', '.pkl'}
    meta = json.loads((out/f'{stem}.json').read_text())
    assert meta['model'] == 'smollm2-135m-instruct' and meta['layers'] == [12, 14] and meta['method'] == 'mean_diff'
    assert meta['read_position'] == 'last' and meta['num_samples'] == 8 and meta['contrast_type'] == 'tom'
    n = meta['num_pairs_in_file']
    assert meta['split'] == {'train': [0, 8], 'heldout': [n - 6, n]}
    for key in ('timestamp', 'git_sha', 'steer_version', 'extraction_seconds', 'tokens_processed', 'peak_memory_mb', 'model_fingerprint', 'data_sha256'):
        assert key in meta, key
    assert meta['tokens_processed'] > 0 and meta['extraction_seconds'] > 0
    assert str(out/f'{stem}.safetensors') in run.stdout   # the paths are printed
    from steer.vectors import load_vector
    vec = load_vector(out/f'{stem}.safetensors')
    assert vec.layers == [12, 14] and all(v.norm() > 0 for v in vec.layer_vectors.values())


def test_tune_writes_safe_range_into_json(trained):
    out, _ = trained
    meta_path = next(out.glob('*.json'))
    before = json.loads(meta_path.read_text())
    run = _steer('tune', meta_path, '--layers', '12', '--multipliers', '2,4', '--max-perplexity-ratio', '1.5', '--num-heldout', '3', '--no-progress')
    assert run.returncode == 0, run.stderr
    meta = json.loads(meta_path.read_text())
    tune = meta['tune']
    assert tune['layer'] == 12 and tune['num_heldout'] == 3 and tune['max_perplexity_ratio'] == 1.5
    lo, hi = tune['multiplier_range']
    assert lo <= 0 <= hi and tune['perplexity_ratio'] <= 1.5
    # every grid point inside the range passed the guard, the first one outside (if any) failed it
    ratios = {float(k): v for k, v in tune['per_layer']['12']['perplexity_ratio'].items()}
    assert all(r <= 1.5 for m, r in ratios.items() if lo <= m <= hi)
    assert all(r > 1.5 for m, r in ratios.items() if m < lo or m > hi)
    assert {k: meta[k] for k in before} == before   # nothing else changed
    assert 'layer 12' in run.stdout
    # the default objective is the log-odds swing; both swings are stored and agree with the per-multiplier values
    assert tune['objective'] == 'logodds' and tune['effect'] == tune['logodds_effect']
    assert abs(tune['logodds_effect'] - (tune['mean_log_odds'][f'{hi:g}'] - tune['mean_log_odds'][f'{lo:g}'])) < 1e-5
    assert abs(tune['probability_effect'] - (tune['positive_probability'][f'{hi:g}'] - tune['positive_probability'][f'{lo:g}'])) < 1e-5
    # the .pkl copy carries the same metadata as the json
    from steer.vectors import load_vector
    assert load_vector(meta_path.with_suffix('.pkl'), trust_pickle=True).metadata['tune'] == tune
    assert not list(out.glob('.*.tmp'))


def test_evaluate_writes_results_and_plot(trained):
    out, _ = trained
    meta_path = next(out.glob('*.json'))
    run = _steer('evaluate', meta_path, '--multipliers', '-2,0,2', '--num-heldout', '3', '--sweep-multiplier', '2',
                 '--num-generations', '1', '--max-new-tokens', '8', '--no-progress')
    assert run.returncode == 0, run.stderr
    ev = json.loads(meta_path.read_text())['evaluation']
    assert ev['num_heldout'] == 3 and set(ev['layer_sweep']['layers']) == {'12', '14'}
    assert set(ev['positive_probability']) == {'-2', '0', '2'} == set(ev['ab_positive_probability'])
    assert all(0 < p < 1 for p in ev['positive_probability'].values())
    assert len(ev['generations']) == 1 and Path(ev['plot']).exists()


def _broken_files(d):
    (d/'missing.json').write_text(json.dumps([{'prompt': 'Where is the ball?', 'positive': 'In the box.'}]))
    (d/'empty.json').write_text('')
    (d/'notalist.json').write_text('{"prompt": "x"}')
    return d


@pytest.mark.parametrize('args, message', [
    (['--contrast-type', 'tom', '--layers', '5,abc'], "bad layer 'abc'"),
    (['--contrast-type', 'humour'], "unknown contrast type 'humour'"),
    (['--data-file', '{d}/missing.json'], 'item 0 is missing negative'),
    (['--data-file', '{d}/empty.json'], 'malformed JSON'),
    (['--data-file', '{d}/notalist.json'], 'expected a JSON list'),
    (['--contrast-type', 'tom', '--method', 'ica'], 'unknown method'),
    (['--contrast-type', 'tom', '--num-samples', '500'], 'num_samples=500'),
    (['--contrast-type', 'tom', '--dtype', 'float8'], "unknown dtype 'float8'"),
])
def test_train_bad_input_fails_cleanly(tmp_path, args, message):
    d = _broken_files(tmp_path)
    out = tmp_path/'out'
    run = _steer('train', *[a.format(d=d) for a in args], '--output-dir', out, '--no-progress')
    assert run.returncode != 0
    assert message in run.stderr, run.stderr
    assert 'Traceback' not in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert not out.exists()


def test_tune_rejects_vector_without_heldout_pairs(tmp_path):
    (tmp_path/'pairs.json').write_text(json.dumps([{'prompt': f'Question {i}?', 'positive': 'Yes, gladly.', 'negative': 'No, never.'} for i in range(3)]))
    run = _steer('train', '--data-file', tmp_path/'pairs.json', '--layers', '3', '--num-heldout', '0', '--output-dir', tmp_path, '--no-progress')
    assert run.returncode == 0, run.stderr
    vector = next(tmp_path.glob('pairs_*.safetensors'))
    before = vector.with_suffix('.json').read_text()
    bad = _steer('tune', vector, '--no-progress')
    assert bad.returncode != 0 and 'without held-out pairs' in bad.stderr and 'Traceback' not in bad.stderr
    assert vector.with_suffix('.json').read_text() == before
    bad = _steer('tune', vector, '--objective', 'odds', '--no-progress')
    assert bad.returncode != 0 and "unknown objective 'odds'" in bad.stderr and 'Traceback' not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and vector.with_suffix('.json').read_text() == before
