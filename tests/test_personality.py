"""steer dataset build-steer: a tiny build on the embedded model, the API path against `steer serve` on 127.0.0.1,
SIGKILL (mid-way and inside the checkpoint write) followed by a re-run of the same command, a vector trained from a
built file then evaluated and tuned on the rows train held out, and `steer dataset upload` up to the HTTP boundary.
Sizes are kept small: a few situations, 16 new tokens an answer, one layer."""
import json, os
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

@pytest.fixture(scope='module')
def tiny(tmp_path_factory, cache):
    "A real 4-row build (the tiny build test checks it; the consumer and upload tests read it)"
    out = tmp_path_factory.mktemp('tiny')/'out'
    p = run(build(out, 4), env={'STEER_CACHE_DIR': cache})
    assert p.proc.returncode == 0, p.output
    return p, out

def test_tiny_build(tiny):
    p, out = tiny
    files = list(out.glob('caa_dataset_*.jsonl'))
    assert len(files) == 1
    check_rows(read_rows(files[0]), 4)
    ck = read_json(files[0].with_suffix('.checkpoint.json'))
    assert ck['num_generated'] == 4 and ck['complete'] and {'output_file', 'timestamp'} <= set(ck)
    summary = read_json(files[0].with_suffix('.summary.json'))
    assert summary['usage']['cost'] == 0.0 and summary['usage']['completion_tokens'] > 0 and summary['done'] == 4
    meta = read_json(files[0].with_suffix('.metadata.json'))
    assert meta['p2']['description'] and meta['neutral_p2']['description'] and meta['personality'] == 'Extroversion'
    assert 'tokens:' in p.output and 'rows flagged' in p.output and 'rows by quality flag: empty 0, identical ' in p.output

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

def test_trained_vector_evaluates_and_tunes_on_heldout_rows(tiny, tmp_path):
    "train --dataset holds out the last rows; evaluate and tune read exactly those rows back as the A/B questions train makes"
    from steer.evaluate import heldout_pairs
    from steer.personality import caa_pairs
    file = next(tiny[1].glob('caa_dataset_*.jsonl'))
    vecs = tmp_path/'vecs'
    p = run(STEER + ['train', '--dataset', file, '--layers', '12', '--num-heldout', '2', '--output-dir', vecs, '--no-progress'])
    assert p.proc.returncode == 0, p.output
    vector = next(vecs.glob('*.safetensors'))
    meta = read_json(vector.with_name(vector.name.removesuffix('.safetensors') + '.json'))
    assert meta['split'] == {'train': [0, 2], 'heldout': [2, 4]}
    pairs, source = heldout_pairs(meta)
    expected = caa_pairs(read_rows(file))[2:]   # the rows train did not use, positions alternating over the whole file
    assert [(q.prompt, q.positive, q.negative) for q in pairs] == [(q.prompt, q.positive, q.negative) for q in expected]
    assert source == f'{file}[2:4]' and [q.positive for q in pairs] == ['1', '2']
    p = run(STEER + ['evaluate', vector, '--multipliers', '-1,0,1', '--num-generations', '1', '--max-new-tokens', '4', '--no-plots', '--no-progress'])
    assert p.proc.returncode == 0, p.output
    ev = read_json(vector.with_name(vector.name.removesuffix('.safetensors') + '.json'))['evaluation']
    assert ev['num_heldout'] == 2 and ev['heldout_source'] == source and set(ev['positive_probability']) == {'-1', '0', '1'}
    p = run(STEER + ['tune', vector, '--multipliers', '1', '--no-progress'])
    assert p.proc.returncode == 0, p.output
    assert read_json(vector.with_name(vector.name.removesuffix('.safetensors') + '.json'))['tune']['heldout_source'] == source

def test_upload_up_to_the_http_boundary(tiny, monkeypatch):
    """`steer dataset upload` on a real built file. The Hugging Face Hub cannot be reached from here, so HfApi's HTTP-level
    methods (create_repo, upload_file) are replaced by a recorder; everything up to them runs for real."""
    import huggingface_hub
    from steer.personality import upload
    file = next(tiny[1].glob('caa_dataset_*.jsonl'))
    rows, calls = read_rows(file), []
    monkeypatch.setattr(huggingface_hub.HfApi, 'create_repo', lambda self, *a, **k: calls.append(('create_repo', self.token, a, k)))
    monkeypatch.setattr(huggingface_hub.HfApi, 'upload_file', lambda self, **k: calls.append(('upload_file', self.token, k)))
    monkeypatch.setenv('HF_TOKEN', 'hf_secret_from_env')
    assert upload(str(file), 'someone/extro-135m', private=True) == 'https://huggingface.co/datasets/someone/extro-135m'
    assert [c[0] for c in calls] == ['create_repo', 'upload_file', 'upload_file'] and {c[1] for c in calls} == {'hf_secret_from_env'}
    assert calls[0][2:] == (('someone/extro-135m',), {'repo_type': 'dataset', 'private': True, 'exist_ok': True})
    data, card = calls[1][2], calls[2][2]
    assert data['path_or_fileobj'] == str(file) and data['path_in_repo'] == f'data/{file.name}'
    assert all(k['repo_id'] == 'someone/extro-135m' and k['repo_type'] == 'dataset' for k in (data, card))
    assert card['path_in_repo'] == 'README.md'
    text = card['path_or_fileobj'].decode()
    head = text.split('---\n')[1]
    for field in ('license: mit', 'language:\n- en', 'tags:\n- steering-vectors', 'task_categories:\n- text-generation', 'size_categories:\n- n<1K'):
        assert field in head, field
    assert '| personality | model | rows | source dataset | date |' in text and f'| Extroversion | smollm2-135m-instruct | {len(rows)} |' in text
    assert json.dumps(rows[0], indent=2, ensure_ascii=False) in text, 'the example row'
    assert 'load_dataset("someone/extro-135m", split="train")' in text
    assert 'arxiv.org/abs/2312.06681' in text and 'arxiv.org/abs/2206.07550' in text   # CAA and P2
    assert 'hf_secret_from_env' not in text
    monkeypatch.delenv('HF_TOKEN')
    calls.clear()
    p = run(STEER + ['dataset', 'upload', '--dataset-file', file, '--repo-id', 'someone/extro-135m'], env={'HF_TOKEN': ''})
    assert p.proc.returncode == 2 and not calls
    assert p.output.strip().splitlines() == ['steer dataset upload: error: set the environment variable HF_TOKEN to upload to the Hugging Face Hub'], p.output
