"`steer compare` end to end through the console script on the embedded model (tiny grid), and its resume"
import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
STEER = Path(sys.executable).parent/'steer'


def _steer(*args, cwd=ROOT):
    env = {**os.environ, 'PYTHONWARNINGS': 'ignore', 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '2')}
    return subprocess.run([str(STEER), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=900)


@pytest.fixture(scope='module')
def small_files(tmp_path_factory):
    "Three neutral texts and eight capability questions, so the guard and the side effects run in seconds"
    d = tmp_path_factory.mktemp('inputs')
    neutral = json.loads((ROOT/'data'/'neutral_texts.json').read_text())[:3]
    (d/'neutral.json').write_text(json.dumps(neutral))
    rows = [{'id': f'q{i}', 'category': 'arithmetic', 'question': f'What is {i} + {i + 2}?',
             'choices': [str(2 * i + 2), str(2 * i + 3), str(2 * i + 1), str(2 * i + 4)][i % 4:] + [str(2 * i + 2), str(2 * i + 3), str(2 * i + 1), str(2 * i + 4)][:i % 4],
             'answer': (4 - i % 4) % 4} for i in range(8)]
    (d/'capability.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return d


def _args(out, inputs, *extra):
    return ['compare', '--contrast-types', 'optimism', '--methods', 'mean_diff,pca,bipo', '--layers', '12', '--num-samples', '6',
            '--num-heldout', '4', '--bipo-options', 'epochs=1', '--multipliers', '2,8', '--neutral-file', inputs/'neutral.json',
            '--capability-file', inputs/'capability.jsonl', '--output-dir', out, '--no-progress', *extra]


@pytest.fixture(scope='module')
def grid(tmp_path_factory, small_files):
    out = tmp_path_factory.mktemp('compare')
    run = _steer(*_args(out, small_files))
    assert run.returncode == 0, run.stderr
    return out, run


def test_outputs(grid):
    out, run = grid
    result = json.loads((out/'compare.json').read_text())
    assert [(c['contrast_type'], c['method']) for c in result['cells']] == [('optimism', m) for m in ('mean_diff', 'pca', 'bipo')]
    assert result['model'] == 'smollm2-135m-instruct' and result['seed'] == 0 and result['git_sha']
    assert result['split_sizes']['optimism']['train'] == 6 and result['split_sizes']['optimism']['heldout'] == 4
    for c in result['cells']:
        assert c['layer'] == 12 and c['side_effects']['perplexity_ratio'] <= 1.5
        lo, hi = c['effect']['logodds_swing_ci95']
        assert lo <= c['effect']['logodds_swing'] <= hi
        assert c['side_effects']['num_capability'] == 8 and 0 <= c['side_effects']['capability_accuracy_unsteered'] <= 1
        assert c['compute']['extraction_seconds'] > 0 and c['compute']['tokens_processed'] > 0 and 'peak_memory_mb' in c['compute']
        assert (out/'cells'/f"optimism.{c['method']}.json").exists() and (out/'cells'/f"optimism.{c['method']}.vector.safetensors").exists()
    assert set(result['agreement']['optimism']) == {'mean_diff~pca', 'mean_diff~bipo', 'pca~bipo'}
    table = (out/'compare.md').read_text()
    assert table.count('| optimism |') == 3 + 3 and 'log-odds swing' in table
    assert (out/'effect_vs_side_effect.png').stat().st_size > 0 and (out/'compute.png').stat().st_size > 0
    assert '3 cell(s) run, 0 reused' in run.stdout


def test_resume_reuses_finished_cells(grid, small_files):
    out, _ = grid
    before = json.loads((out/'compare.json').read_text())
    (out/'cells'/'optimism.pca.json').unlink()          # as if the run had stopped before the pca cell finished
    run = _steer(*_args(out, small_files, '--no-plots'))
    assert run.returncode == 0, run.stderr
    assert '1 cell(s) run, 2 reused' in run.stdout, run.stdout
    after = json.loads((out/'compare.json').read_text())
    for a, b in zip(before['cells'], after['cells']):
        if a['method'] != 'pca': assert a == b                       # reused as saved
        else:
            for key in ('layer', 'multiplier_range', 'effect', 'side_effects'): assert a[key] == b[key]   # recomputed, same seed -> same numbers
    # a changed setting (the seed) recomputes every cell
    run = _steer(*_args(out, small_files, '--no-plots', '--seed', '1', '--methods', 'mean_diff'))
    assert run.returncode == 0 and '1 cell(s) run, 0 reused' in run.stdout, run.stdout + run.stderr
