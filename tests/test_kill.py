"Every long job killed with SIGKILL and re-run: train, tune, steer run and the Batch API client leave no partial output"
import json, sys, tempfile
from pathlib import Path
import httpx
from harness import STEER, Proc, kill_at, run, whole_lines
from steer.core import read_json

def visible(folder): return sorted(p.name for p in folder.iterdir() if not p.name.startswith('.')) if folder.exists() else []

def test_train_killed_leaves_nothing_then_runs(tmp_path):
    out = tmp_path/'vectors'
    cmd = STEER + ['train', '--contrast-type', 'tom', '--layers', '4,8,12', '--num-samples', '48', '--batch-size', '4', '--output-dir', out]
    proc = Proc(cmd)
    proc.wait_for(lambda: 'training on' in proc.output and '%|' in proc.output, what='extraction under way')
    proc.kill9()
    assert visible(out) == [], visible(out)                       # killed mid-extraction: no vector files at all
    done = run(cmd)
    assert done.proc.returncode == 0, done.output
    files = visible(out)
    assert len(files) == 3 and {f.rsplit('.', 1)[1] for f in files} == {'safetensors', 'json', 'pkl'}
    assert [p.name for p in out.iterdir() if p.name.startswith('.')] == []

def test_tune_killed_leaves_the_vector_untouched(tmp_path):
    out = tmp_path/'vectors'
    trained = run(STEER + ['train', '--contrast-type', 'optimism', '--layers', '8,12', '--num-samples', '24', '--num-heldout', '12',
                           '--output-dir', out, '--no-progress'])
    assert trained.proc.returncode == 0, trained.output
    meta = next(out.glob('*.json')); before = meta.read_bytes(); pkl = meta.with_suffix('.pkl').read_bytes()
    cmd = STEER + ['tune', meta, '--layers', '8,12', '--multipliers', '0.5,1,2,4']
    proc = Proc(cmd)
    proc.wait_for(lambda: '%|' in proc.output, what='tuning under way')
    proc.kill9()
    assert meta.read_bytes() == before and meta.with_suffix('.pkl').read_bytes() == pkl
    done = run(cmd)
    assert done.proc.returncode == 0, done.output
    assert 'tune' in read_json(meta) and [p.name for p in out.iterdir() if p.name.startswith('.')] == []

def test_steer_run_killed_writes_no_notebook(tmp_path, root):
    output = tmp_path/'core.ipynb'
    cmd = STEER + ['run', root/'nbs'/'00_core.ipynb', '--output', output]
    proc = Proc(cmd, cwd=root)
    proc.wait_for(lambda: any(p.name.startswith('steer-run-') for p in Path(tempfile.gettempdir()).iterdir()), what='papermill started')
    proc.kill9()
    assert not output.exists() and visible(tmp_path) == []
    done = run(cmd, cwd=root)
    assert done.proc.returncode == 0 and output.exists(), done.output

BATCH_CLIENT = '''
import sys
from steer.generate import OpenAIGenerator
import steer.batch   # adds OpenAIGenerator.batch_generate
gen = OpenAIGenerator('smollm2-135m-instruct', base_url=sys.argv[1])
outs = gen.batch_generate([f'Count to {i}.' for i in range(2, 8)], sys.argv[2], max_new_tokens=12, poll_interval=0.2, progress=False)
print('RESULTS', [o is not None and bool(o.text) for o in outs])
'''

def test_batch_client_killed_resumes_the_same_batch(tmp_path, steer_server):
    requests = tmp_path/'requests.jsonl'
    state = tmp_path/'requests.batch.json'
    cmd = [sys.executable, '-c', BATCH_CLIENT, steer_server + '/v1', requests]
    before = len(httpx.get(steer_server + '/v1/batches').json()['data'])
    proc = Proc(cmd)
    proc.wait_for(lambda: state.exists() and 'batch_id' in state.read_text(), what='the batch submitted')
    proc.kill9()
    batch_id = read_json(state)['batch_id']
    done = run(cmd)
    assert done.proc.returncode == 0 and 'RESULTS [True, True, True, True, True, True]' in done.output, done.output
    assert read_json(state)['batch_id'] == batch_id                                             # resumed, not resubmitted
    assert len(httpx.get(steer_server + '/v1/batches').json()['data']) == before + 1
    assert whole_lines(tmp_path/'requests.results.jsonl') == 6
