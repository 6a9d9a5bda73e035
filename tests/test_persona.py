"""steer persona: tiny builds on the embedded model through the CLI (rows, datasets, parquet, filters), the API path
against `steer serve` on 127.0.0.1, a real SIGKILL and resume, a judge that only answers garbage, build-all's process
pool with a failing persona, and the persona-subspace import fixture converted exactly."""
import json, shutil
from pathlib import Path
import pandas as pd, pytest
from harness import STEER, kill_at, paused, read_rows, run, start_server, stop_server, whole_lines
from steer.core import read_json

ROOT = Path(__file__).resolve().parents[1]
PERSONAS = ROOT/'tests'/'data'/'personas'
FIXTURE = ROOT/'tests'/'data'/'persona_subspace'
MODEL = 'smollm2-135m-instruct'
SMALL = ['--max-new-tokens', 16, '--no-progress', '--personas', PERSONAS]

def persona(*args) -> list[str]: return STEER + ['persona', *map(str, args)]

def test_tiny_build_datasets_and_filters(tmp_path):
    "A trait: 5 variants x pos/neg x 1 question = 10 cells, judged; the dataset loads both ways; filters count right"
    import datasets
    p = run(persona('build', '--type', 'traits', '--name', 'analytical', '--num-questions', 1, '--root', tmp_path, *SMALL))
    assert p.proc.returncode == 0, p.output
    rows = read_rows(tmp_path/MODEL/'traits'/'responses'/'analytical.jsonl')
    assert len(rows) == 10 and len({r['key'] for r in rows}) == 10
    assert sorted(r['key'] for r in rows) == sorted(f'{l}_p{i}_q0' for l in ('pos', 'neg') for i in range(5))
    scores = [r['extract_score'] for r in rows]
    assert all(s is None or s == 'REFUSAL' or 0 <= s <= 100 for s in scores)
    summary = read_json(tmp_path/MODEL/'traits'/'responses'/'analytical.summary.json')
    assert summary['complete'] and summary['flags'].get('score_missing', 0) == scores.count(None)
    name = f'{MODEL}__traits__analytical'
    ds = datasets.load_from_disk(str(tmp_path/'datasets'/name))
    df = pd.read_parquet(tmp_path/'datasets'/f'{name}.parquet')
    assert len(ds) == len(df) == 10
    assert set(ds.column_names) >= {'model', 'system_prompt', 'question', 'messages', 'prompt_index', 'question_index', 'label', 'extract_score', 'trait'}
    assert ds[0]['messages'][0] == {'role': 'system', 'content': ds[0]['system_prompt']} and ds[0]['messages'][-1]['role'] == 'assistant'
    # filters: by label, then by a score threshold (counted here from the raw rows)
    p = run(persona('create', '--type', 'traits', '--name', 'analytical', '--label-filter', 'neg', '--root', tmp_path))
    assert p.proc.returncode == 0, p.output
    assert len(pd.read_parquet(tmp_path/'datasets'/f'{name}__neg.parquet')) == 5
    cut = sorted(s for s in scores if isinstance(s, int))[len([s for s in scores if isinstance(s, int)]) // 2] if any(isinstance(s, int) for s in scores) else 0
    expected = sum(isinstance(s, int) and s >= cut for s in scores)
    p = run(persona('create', '--type', 'traits', '--name', 'analytical', '--min-score', cut, '--root', tmp_path))
    if expected: assert p.proc.returncode == 0 and len(datasets.load_from_disk(str(tmp_path/'datasets'/f'{name}__min{cut}'))) == expected, p.output
    else: assert p.proc.returncode == 2 and 'no row passes the filters' in p.output
    p = run(persona('list', '--type', 'traits', '--root', tmp_path, '--personas', PERSONAS))
    assert p.proc.returncode == 0 and 'analytical' in p.output and '10 rows' in p.output, p.output

def test_killed_build_reruns_only_missing_cells(tmp_path):
    "SIGKILL while the checkpoint is written after 4 of 10 cells; the same command again gives exactly the 10 cells"
    cmd = persona('build', '--type', 'roles', '--name', 'accountant', '--num-questions', 2, '--chunk-size', 2, '--root', tmp_path, *SMALL)
    kill_at(cmd, env={**paused('checkpoint', 4), 'STEER_CHECKPOINT_INTERVAL': '2'}, pause='checkpoint')
    out = tmp_path/MODEL/'roles'/'responses'/'accountant.jsonl'
    left = whole_lines(out)
    assert 4 <= left < 10, left
    assert not (tmp_path/'datasets').exists() or not any((tmp_path/'datasets').iterdir())   # no dataset before the build ends
    p = run(cmd)
    assert p.proc.returncode == 0, p.output
    rows = read_rows(out)
    assert sorted(r['key'] for r in rows) == sorted(f'pos_p{i}_q{j}' for i in range(5) for j in range(2))
    summary = read_json(out.with_suffix('.summary.json'))
    assert (summary['resumed'], summary['written'], summary['done']) == (left, 10 - left, 10)
    assert not list(out.parent.glob('.*.tmp'))

def test_api_build_against_steer_serve(tmp_path):
    "Answers and judge through the OpenAI client against `steer serve` on 127.0.0.1"
    base, proc = start_server()
    try:
        p = run(persona('build', '--type', 'roles', '--name', 'accountant', '--num-questions', 1, '--base-url', f'{base}/v1',
                        '--judge-base-url', f'{base}/v1', '--root', tmp_path, *SMALL))
    finally: stop_server(proc)
    assert p.proc.returncode == 0, p.output
    rows = read_rows(tmp_path/MODEL/'roles'/'responses'/'accountant.jsonl')
    assert len(rows) == 5 and all(r['messages'][-1]['role'] == 'assistant' for r in rows)
    assert all(r['extract_score'] is None or 0 <= r['extract_score'] <= 3 for r in rows)
    summary = read_json(tmp_path/MODEL/'roles'/'responses'/'accountant.summary.json')
    assert summary['usage']['prompt_tokens'] > 0 and summary['usage']['requests'] >= 10   # 5 answers + 5 judgements at least

def test_garbage_judge_records_missing_never_zero(tmp_path):
    "A judge that only ever answers garbage: every score is missing (None, never 0), counted in the summary"
    from steer.generate import Completion, Generator, open_generator
    from steer.jobs import run_job
    from steer.persona import PersonaWork, load_persona, load_questions, persona_cells, persona_flags
    class Garbage(Generator):   # stands in for a broken judge model, which cannot be had on purpose from a real one
        model_name = 'garbage'
        def generate(self, prompts, **kw): return [Completion('no idea, banana') for _ in prompts]
    p = load_persona('roles', 'accountant', PERSONAS)
    cells = persona_cells(p, load_questions(PERSONAS)[:1])
    work = PersonaWork(p, open_generator(MODEL), Garbage(), MODEL, max_new_tokens=8)
    s = run_job(tmp_path/'g.jsonl', cells, work, key=lambda r: r['key'], row_flags=persona_flags(), progress=False)
    rows = read_rows(tmp_path/'g.jsonl')
    assert len(rows) == 5 and all(r['extract_score'] is None for r in rows)
    assert s.flags['score_missing'] == 5 and s.events['score missing'] == 5 and s.events['judge retried'] == 5

def test_build_all_pool_summarises_failures(tmp_path):
    "Two workers, one progress bar; a persona missing a field fails alone and is listed with its reason"
    folder = tmp_path/'personas'
    shutil.copytree(PERSONAS, folder)
    bad = json.loads((folder/'traits'/'analytical.json').read_text()); del bad['eval_prompt']
    (folder/'traits'/'broken.json').write_text(json.dumps(bad))
    p = run(persona('build-all', '--type', 'both', '--workers', 2, '--num-questions', 1, '--max-new-tokens', 8, '--personas', folder, '--root', tmp_path/'out'))
    assert p.proc.returncode == 0, p.output
    assert 'built 2 of 3 personas; failed 1' in p.output and "traits/broken: " in p.output and "field 'eval_prompt' is missing" in p.output
    assert len(read_rows(tmp_path/'out'/MODEL/'roles'/'responses'/'accountant.jsonl')) == 5
    assert len(read_rows(tmp_path/'out'/MODEL/'traits'/'responses'/'analytical.jsonl')) == 10
    assert 'personas: 100%' in p.output

def test_import_fixture_exactly(tmp_path):
    p = run(persona('import', '--source', FIXTURE, '--root', tmp_path))
    assert p.proc.returncode == 0, p.output
    roles = pd.read_parquet(tmp_path/'datasets'/'qwen-3-4b__roles__accountant.parquet')
    traits = pd.read_parquet(tmp_path/'datasets'/'qwen-3-4b__traits__analytical.parquet')
    src = [json.loads(l) for l in (FIXTURE/'qwen-3-4b'/'roles_240'/'responses'/'accountant.jsonl').read_text().splitlines()]
    assert [m.tolist() if hasattr(m, 'tolist') else m for m in roles['messages']] == [r['conversation'] for r in src]
    assert roles['label'].tolist() == ['pos', 'pos', 'pos', 'default'] and roles['extract_score'].tolist() == [3, 3, 2, 1]
    assert roles['role'].tolist() == ['accountant'] * 4 and roles['model'].tolist() == ['qwen-3-4b'] * 4
    assert traits['label'].tolist() == ['pos', 'neg', 'neg', 'default', 'pos']            # neutral (older runs) is default
    assert traits['extract_score'].isna().tolist() == [False, False, True, False, True]   # REFUSAL and an unscored cell
    assert traits['refusal'].tolist() == [False, False, True, False, False]
    assert traits['extract_score'].dropna().tolist() == [90, 10, 40]
    p = run(persona('create', '--type', 'traits', '--model', 'qwen-3-4b', '--name', 'analytical', '--min-score', 20, '--label-filter', 'pos', '--root', tmp_path))
    assert p.proc.returncode == 0 and len(pd.read_parquet(tmp_path/'datasets'/'qwen-3-4b__traits__analytical__min20__pos.parquet')) == 1

def test_trait_vector_from_pos_and_neg_datasets_steers(tmp_path):
    "`steer train --pos-dataset --neg-dataset` on the imported fixture: a normal vector file that changes generation"
    from steer.generate import open_generator
    from steer.vectors import load_vector
    assert run(persona('import', '--source', FIXTURE, '--root', tmp_path)).proc.returncode == 0
    d = tmp_path/'datasets'
    p = run(STEER + ['train', '--pos-dataset', d/'qwen-3-4b__traits__analytical', '--neg-dataset', d/'qwen-3-4b__traits__analytical.parquet',
                     '--layers', '10', '--output-dir', tmp_path/'vectors', '--no-progress'])
    assert p.proc.returncode == 0, p.output
    files = sorted((tmp_path/'vectors').glob('analytical_*.safetensors'))
    assert len(files) == 1
    vec = load_vector(files[0])
    assert vec.layers == [10] and vec.metadata['num_pos'] == 1 and vec.metadata['num_neg'] == 1   # question 1 is held out
    gen = open_generator(MODEL)
    plain = gen.generate(['Describe your ideal weekend.'], max_new_tokens=20, progress=False)[0].text
    steered = gen.generate(['Describe your ideal weekend.'], max_new_tokens=20, progress=False, vector=vec, multiplier=8.0)[0].text
    assert steered != plain
