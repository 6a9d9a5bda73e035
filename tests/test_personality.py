"""steer dataset build-steer: a tiny build on the embedded model, the API path against `steer serve` on 127.0.0.1,
and SIGKILL (mid-way and inside the checkpoint write) followed by a re-run of the same command.
The Hub upload is tested in nbs/10_personality.ipynb up to the HTTP boundary (HfApi replaced: the Hub cannot be
reached here). Sizes are kept small: a few situations, 16 new tokens an answer."""
import json
from pathlib import Path
import pytest
from harness import STEER, kill_at, paused, read_rows, run, start_server, stop_server, whole_lines
from steer.core import read_json

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT/'data'/'scenarios'
FIELDS = {'situation', 'char_name', 'positive', 'neutral'}

@pytest.fixture(scope='module')
def cache(tmp_path_factory):
    "One steer cache for the module: the P2 texts are made once per (model, server) and reused"
    return str(tmp_path_factory.mktemp('cache'))

def build(out, n, *extra): return STEER + ['dataset', 'build-steer', '--dataset', SCENARIOS, '--output', out, '--limit-samples', str(n),
                                           '--max-new-tokens', '16', '--no-progress', *map(str, extra)]

def first_situations(n):
    from steer.personality import load_situations
    return [s.situation for s in load_situations(str(SCENARIOS), n)[0]]

def check_rows(rows, n):
    assert len(rows) == n and all(set(r) == FIELDS for r in rows)
    assert all(r['positive'].strip() and r['neutral'].strip() for r in rows), 'an empty answer was written'
    assert [r['situation'] for r in rows] == first_situations(n), 'a situation is missing, twice or out of order'

def test_tiny_build(tmp_path, cache):
    p = run(build(tmp_path/'out', 3), env={'STEER_CACHE_DIR': cache})
    assert p.proc.returncode == 0, p.output
    files = list((tmp_path/'out').glob('caa_dataset_*.jsonl'))
    assert len(files) == 1
    check_rows(read_rows(files[0]), 3)
    ck = read_json(files[0].with_suffix('.checkpoint.json'))
    assert ck['num_generated'] == 3 and ck['complete'] and {'output_file', 'timestamp'} <= set(ck)
    summary = read_json(files[0].with_suffix('.summary.json'))
    assert summary['usage']['cost'] == 0.0 and summary['usage']['completion_tokens'] > 0 and summary['done'] == 3
    meta = read_json(files[0].with_suffix('.metadata.json'))
    assert meta['p2']['description'] and meta['neutral_p2']['description'] and meta['personality'] == 'Extroversion'
    assert 'tokens:' in p.output and 'rows flagged' in p.output

def test_killed_and_resumed(tmp_path, cache):
    out, n = tmp_path/'k', 6
    env = {'STEER_CACHE_DIR': cache, 'STEER_INFERENCE_BATCH_SIZE': '2', 'STEER_CHECKPOINT_INTERVAL': '2'}
    kill_at(build(out, n), env={**env, **paused('checkpoint', 2)}, pause='checkpoint')   # inside the atomic checkpoint write
    assert list(out.glob('.caa_dataset_*.checkpoint.json.*.tmp'))
    file = next(out.glob('caa_dataset_*.jsonl'))
    kill_at(build(out, n), lambda: whole_lines(file) >= 4, env=env)                      # mid-way, rows on disk
    p = run(build(out, n), env=env)
    assert p.proc.returncode == 0, p.output
    assert list(out.glob('caa_dataset_*.jsonl')) == [file], 'the re-run did not continue the unfinished file'
    data = file.read_bytes()
    assert data.endswith(b'\n'), 'a truncated line'
    check_rows(read_rows(file), n)
    assert read_json(file.with_suffix('.checkpoint.json'))['num_generated'] == n

@pytest.fixture(scope='module')
def server():
    base, p = start_server()
    yield base
    stop_server(p)

def test_api_build_against_steer_serve(tmp_path, cache, server):
    p = run(build(tmp_path/'api', 2, '--base-url', f'{server}/v1', '--concurrency', 2), env={'STEER_CACHE_DIR': cache})
    assert p.proc.returncode == 0, p.output
    file = next((tmp_path/'api').glob('caa_dataset_*.jsonl'))
    check_rows(read_rows(file), 2)
    usage = read_json(file.with_suffix('.summary.json'))['usage']
    assert usage['prompt_tokens'] > 0 and usage['completion_tokens'] > 0 and usage['requests'] >= 4
