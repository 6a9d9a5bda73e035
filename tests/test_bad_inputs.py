"""Bad input, everywhere: a table of bad inputs for every `steer` subcommand.

Each case runs the command (in-process, through `steer.cli.main`, in an empty working folder holding only the
bad files) and asserts: exit code 2, exactly one line on stderr that names the problem, no traceback, and
nothing written — the folder is the same before and after. A few cases also run as real subprocesses, and the
read-only folder case runs under a read-only bind mount (as root, file permissions would not stop a write)."""
import json, os, shutil, subprocess, sys
from pathlib import Path
import gguf, pytest, torch
from harness import STEER, run
from steer.cli import COMMANDS, main
from steer.vectors import SteeringVector, save_vector

ROOT = Path(__file__).resolve().parents[1]
NB = str(ROOT/'nbs'/'32_train.ipynb')

def write_bad_files(d:Path):
    "The corpus's files: malformed and wrong-shaped data, broken and ill-fitting vectors, a file where a folder goes"
    (d/'malformed.jsonl').write_text('{"prompt": "a", "positive": "b", "negative": "c"}\n{"prompt": \n')
    (d/'empty.json').write_text('')
    (d/'empty.jsonl').write_text('\n')
    (d/'wrongshape.json').write_text('{"prompt": "x", "positive": "y", "negative": "z"}')
    (d/'missing.json').write_text('[{"prompt": "Hi", "positive": "Hello!"}]')
    (d/'strings.json').write_text('["a", "b"]')
    (d/'neutral_bad.json').write_text('[{"prompt": "Hi"}]')
    (d/'afile').write_text('not a folder')
    (d/'notes.txt').write_text('not a notebook')
    (d/'chat.jsonl').write_text('{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}\n')
    (d/'badtask.yaml').write_text('templates: [\n')
    soda = {'narrative': 'Aiko baked cookies.', 'speakers': ['Jon', 'Aiko'], 'dialogue': ['What are you making?']}
    (d/'soda.jsonl').write_text(json.dumps(soda) + '\n')
    (d/'soda_empty.jsonl').write_text(json.dumps({**soda, 'narrative': ''}) + '\n')
    (d/'bad.j2').write_text('{{ situation }} {{ mood }}')
    (d/'caa.jsonl').write_text(json.dumps({'situation': 'Aiko baked.', 'char_name': 'Aiko', 'positive': 'Come in!', 'neutral': 'Cookies.'}) + '\n')
    g = torch.Generator().manual_seed(0)
    meta = {'model': 'smollm2-135m-instruct', 'data_file': str(ROOT/'data'/'contrast_pairs'/'optimism.json'), 'split': {'train': [0, 90], 'heldout': [90, 103]}}
    save_vector(SteeringVector({10: torch.randn(576, generator=g)}, dict(meta)), d/'good', pickle_copy=False)
    save_vector(SteeringVector({10: torch.randn(100, generator=g)}, dict(meta)), d/'small', pickle_copy=False)
    save_vector(SteeringVector({40: torch.randn(576, generator=g)}, dict(meta)), d/'deep', pickle_copy=False)
    save_vector(SteeringVector({10: torch.randn(576, generator=g)}), d/'nometa', pickle_copy=False); (d/'nometa.json').unlink()
    (d/'truncated.safetensors').write_bytes((d/'good.safetensors').read_bytes()[:60]); shutil.copy(d/'good.json', d/'truncated.json')
    (d/'text.safetensors').write_text('this is not a safetensors file'); shutil.copy(d/'good.json', d/'text.json')
    (d/'onlypkl.pkl').write_bytes(b'\x80\x04K\x01.')
    w = gguf.GGUFWriter(str(d/'notcv.gguf'), 'llama'); w.add_tensor('token_embd.weight', torch.zeros(4, 4).numpy())
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    # persona: a trait missing a field, and a valid trait beside an empty question file
    src = ROOT/'tests'/'data'/'personas'
    for folder in ('personas', 'emptyq'): (d/folder/'traits').mkdir(parents=True); shutil.copy(src/'default.json', d/folder/'default.json')
    shutil.copy(src/'questions.jsonl', d/'personas'/'questions.jsonl'); (d/'emptyq'/'questions.jsonl').write_text('')
    shutil.copy(src/'traits'/'analytical.json', d/'emptyq'/'traits'/'analytical.json')
    trait = json.loads((src/'traits'/'analytical.json').read_text()); del trait['instruction'][0]['neg']
    (d/'personas'/'traits'/'nofield.json').write_text(json.dumps(trait))

CASES = [   # (id, argv, what stderr must say)
    # train
    ('train-bad-layer', ['train', '--contrast-type', 'tom', '--layers', '5,abc'], "bad layer 'abc'"),
    ('train-layer-range', ['train', '--contrast-type', 'tom', '--layers', '99'], 'out of range for a model with 30 layers'),
    ('train-empty-layers', ['train', '--contrast-type', 'tom', '--layers', ''], 'empty layer spec'),
    ('train-unknown-type', ['train', '--contrast-type', 'humour'], "unknown contrast type 'humour'"),
    ('train-malformed-jsonl', ['train', '--data-file', 'malformed.jsonl'], 'malformed.jsonl:2: malformed JSON line'),
    ('train-empty-json', ['train', '--data-file', 'empty.json'], 'empty.json:1:1: malformed JSON'),
    ('train-empty-jsonl', ['train', '--data-file', 'empty.jsonl'], 'empty.jsonl: no contrast pairs'),
    ('train-wrong-shape', ['train', '--data-file', 'wrongshape.json'], 'expected a JSON list of contrast pairs'),
    ('train-missing-field', ['train', '--data-file', 'missing.json'], 'item 0 is missing negative'),
    ('train-not-objects', ['train', '--data-file', 'strings.json'], 'item 0 is not an object'),
    ('train-no-file', ['train', '--data-file', 'nosuch.json'], 'nosuch.json: no such data file'),
    ('train-unknown-model', ['train', '--contrast-type', 'tom', '--model', 'no-such-model'], "unknown model 'no-such-model'"),
    ('train-output-is-file', ['train', '--contrast-type', 'tom', '--output-dir', 'afile'], 'afile: exists and is not a folder'),
    ('train-output-under-file', ['train', '--contrast-type', 'tom', '--output-dir', 'afile/vectors'], 'afile: exists and is not a folder'),
    ('train-unknown-method', ['train', '--contrast-type', 'tom', '--method', 'ica'], "unknown method 'ica'"),
    ('train-bad-dtype', ['train', '--contrast-type', 'tom', '--dtype', 'float8'], "unknown dtype 'float8'"),
    ('train-no-cuda', ['train', '--contrast-type', 'tom', '--device', 'cuda'], 'CUDA is not available'),
    ('train-bad-position', ['train', '--contrast-type', 'tom', '--position', 'middle'], "bad read position 'middle'"),
    ('train-zero-samples', ['train', '--contrast-type', 'tom', '--num-samples', '0'], 'num_samples must be at least 1'),
    ('train-bipo-layers', ['train', '--contrast-type', 'tom', '--method', 'bipo', '--layers', '4,8'], 'bipo trains a vector at one layer'),
    ('train-bad-options', ['train', '--contrast-type', 'tom', '--method-options', 'epochs'], "bad method option 'epochs'"),
    ('train-not-a-number', ['train', '--contrast-type', 'tom', '--num-samples', 'many'], "invalid int value: 'many'"),
    ('train-unknown-flag', ['train', '--contrast-type', 'tom', '--no-such-flag'], 'unrecognized arguments: --no-such-flag'),
    # evaluate and tune
    ('evaluate-no-vector', ['evaluate', 'nosuch.safetensors'], 'nosuch.safetensors: no such vector file'),
    ('evaluate-truncated', ['evaluate', 'truncated.safetensors'], 'truncated.safetensors: not a readable safetensors file'),
    ('evaluate-not-safetensors', ['evaluate', 'text.safetensors'], 'text.safetensors: not a readable safetensors file'),
    ('evaluate-pickle-only', ['evaluate', 'onlypkl.pkl'], 'never its .pkl (unpickling can run code)'),
    ('evaluate-hidden-size', ['evaluate', 'small.safetensors'], "directions of size [100]; the model's hidden size is 576"),
    ('evaluate-layers-do-not-fit', ['evaluate', 'deep.safetensors'], 'layer(s) [40]; the model has 30 layers'),
    ('evaluate-no-metadata', ['evaluate', 'nometa.safetensors'], "nometa.json: the vector's metadata file is missing"),
    ('evaluate-bad-multipliers', ['evaluate', 'good.safetensors', '--multipliers', 'abc'], "bad multipliers 'abc'"),
    ('evaluate-malformed-data', ['evaluate', 'good.safetensors', '--data-file', 'malformed.jsonl'], 'malformed.jsonl:2: malformed JSON line'),
    ('evaluate-layer-range', ['evaluate', 'good.safetensors', '--layer', '99'], 'out of range'),
    ('evaluate-layer-not-in-vector', ['evaluate', 'good.safetensors', '--layer', '12'], 'has no direction for layer(s) [12]'),
    ('evaluate-unknown-model', ['evaluate', 'good.safetensors', '--model', 'no-such-model'], "unknown model 'no-such-model'"),
    ('evaluate-bad-heldout', ['evaluate', 'good.safetensors', '--num-heldout', '0'], 'num_heldout must be at least 1'),
    ('tune-bad-layer', ['tune', 'good.safetensors', '--layers', '5,abc'], "bad layer 'abc'"),
    ('tune-bad-multipliers', ['tune', 'good.safetensors', '--multipliers', 'x,y'], "bad multipliers 'x,y'"),
    ('tune-bad-neutral', ['tune', 'good.safetensors', '--neutral-file', 'neutral_bad.json'], "item 0 needs non-empty 'prompt' and 'response'"),
    ('tune-malformed-neutral', ['tune', 'good.safetensors', '--neutral-file', 'empty.json'], 'empty.json:1:1: malformed JSON'),
    ('tune-bad-objective', ['tune', 'good.safetensors', '--objective', 'fun'], "unknown objective 'fun'"),
    ('tune-truncated', ['tune', 'truncated.safetensors'], 'not a readable safetensors file'),
    ('tune-bad-dtype', ['tune', 'good.safetensors', '--dtype', 'int3'], "unknown dtype 'int3'"),
    # compare
    ('compare-unknown-method', ['compare', '--contrast-types', 'tom', '--methods', 'mean_diff,ica'], "unknown method 'ica'"),
    ('compare-unknown-type', ['compare', '--contrast-types', 'tom,humour'], "unknown contrast type 'humour'"),
    ('compare-too-few-pairs', ['compare', '--contrast-types', 'tom', '--num-samples', '500'], 'num_samples=500 but'),
    ('compare-all-held-out', ['compare', '--contrast-types', 'tom', '--num-heldout', '200'], 'leaves none to train on'),
    ('compare-one-held-out', ['compare', '--contrast-types', 'tom', '--num-heldout', '1'], 'num_heldout must be at least 2'),
    ('compare-bad-bipo-option', ['compare', '--contrast-types', 'tom', '--bipo-options', 'epoch=3'], 'unknown bipo option(s) epoch'),
    ('compare-malformed-data', ['compare', '--contrast-types', '', '--data-files', 'malformed.jsonl'], 'malformed.jsonl:2: malformed JSON line'),
    ('compare-malformed-capability', ['compare', '--contrast-types', 'tom', '--capability-file', 'malformed.jsonl'], 'malformed.jsonl:2: malformed JSON line'),
    ('compare-bad-capability', ['compare', '--contrast-types', 'tom', '--capability-file', 'missing.json'], "item 0 needs a 'question'"),
    ('compare-output-under-file', ['compare', '--contrast-types', 'tom', '--output-dir', 'afile/out'], 'afile: exists and is not a folder'),
    # serve (each refused before the server starts)
    ('serve-no-vector', ['serve', '--vector', 'nosuch.safetensors'], 'nosuch.safetensors: no such vector file'),
    ('serve-hidden-size', ['serve', '--vector', 'small.safetensors'], "directions of size [100]; the model's hidden size is 576"),
    ('serve-layers-do-not-fit', ['serve', '--vector', 'deep.safetensors'], 'layer(s) [40]; the model has 30 layers'),
    ('serve-not-control-vector', ['serve', '--vector', 'notcv.gguf'], "GGUF architecture is 'llama', not 'controlvector'"),
    ('serve-truncated', ['serve', '--vector', 'truncated.safetensors'], 'not a readable safetensors file'),
    ('serve-no-vectors-dir', ['serve', '--vectors-dir', 'nosuchdir'], 'nosuchdir: no such vectors folder'),
    ('serve-exposed-without-key', ['serve', '--host', '0.0.0.0'], 'refusing to serve on 0.0.0.0 without an API key'),
    ('serve-files-dir-is-file', ['serve', '--files-dir', 'afile'], 'afile: files_dir is not a folder'),
    ('serve-unknown-model', ['serve', '--model', 'no-such-model'], "unknown model 'no-such-model'"),
    ('serve-bad-layer', ['serve', '--vector', 'good.safetensors', '--layers', '5,abc'], "bad layer 'abc'"),
    ('serve-bad-queue', ['serve', '--max-queue', '0'], 'max_queue must be at least 1'),
    ('serve-bad-multiplier', ['serve', '--vector', 'good.safetensors', '--multiplier', 'big'], "invalid float value: 'big'"),
    # run
    ('run-no-notebook', ['run', 'nosuch.ipynb'], 'nosuch.ipynb: no such notebook'),
    ('run-not-notebook', ['run', 'notes.txt'], 'notes.txt: not a .ipynb notebook'),
    ('run-secret-parameter', ['run', NB, '-p', 'api_key', 'sk-1234'], "parameter 'api_key' looks like a secret"),
    ('run-unknown-parameter', ['run', NB, '-p', 'nosuch', '1'], 'unknown parameter nosuch'),
    ('run-output-not-notebook', ['run', NB, '--output', 'out.txt'], 'out.txt: the output must be a .ipynb file'),
    ('run-no-parameters-cell', ['run', str(ROOT/'nbs'/'00_core.ipynb'), '-p', 'x', '1'], "has no cell tagged 'parameters'"),
    # demo
    ('demo-bad-multipliers', ['demo', '--multipliers', 'abc'], "bad multipliers 'abc'"),
    ('demo-malformed-data', ['demo', '--data-file', 'malformed.jsonl'], 'malformed.jsonl:2: malformed JSON line'),
    ('demo-too-few-pairs', ['demo', '--num-train', '500'], 'need more than num_train=500'),
    ('demo-layer-range', ['demo', '--layer', '99'], 'out of range'),
    # tokens analyze
    ('tokens-no-dataset', ['tokens', 'analyze', '--datasets', 'nosuch.jsonl'], 'nosuch.jsonl: no such file or folder'),
    ('tokens-malformed', ['tokens', 'analyze', '--datasets', 'malformed.jsonl'], 'malformed.jsonl:2: malformed JSON line'),
    ('tokens-empty', ['tokens', 'analyze', '--datasets', 'empty.jsonl'], 'empty.jsonl: empty dataset (no rows)'),
    ('tokens-wrong-shape', ['tokens', 'analyze', '--datasets', 'wrongshape.json'], 'expected a JSON list of objects'),
    ('tokens-unknown-tokenizer', ['tokens', 'analyze', '--datasets', 'chat.jsonl', '--tokenizer', 'no-such-model'], "unknown model 'no-such-model'"),
    ('tokens-stats-under-file', ['tokens', 'analyze', '--datasets', 'chat.jsonl', '--stats', 'afile/stats.json'], 'afile: exists and is not a folder'),
    ('tokens-plots-is-file', ['tokens', 'analyze', '--datasets', 'chat.jsonl', '--plots', 'afile'], 'so the plots folder afile cannot be made'),
    # counterfactual
    ('counterfactual-unknown-task', ['counterfactual', 'generate', '--task', 'nosuch', '--from-lexicon'], "unknown task 'nosuch'"),
    ('counterfactual-malformed-task', ['counterfactual', 'generate', '--task', 'badtask.yaml', '--from-lexicon'], 'badtask.yaml:2: malformed YAML'),
    ('counterfactual-no-api-key', ['counterfactual', 'generate', '--model', 'gpt-4o', '--num-scenarios', '2'], 'set the environment variable OPENAI_API_KEY'),
    ('counterfactual-unreachable', ['counterfactual', 'generate', '--model', 'x', '--base-url', 'http://127.0.0.1:9/v1', '--num-scenarios', '2'], 'cannot reach http://127.0.0.1:9/v1'),
    ('counterfactual-zero', ['counterfactual', 'generate', '--num-scenarios', '0', '--from-lexicon'], 'num_scenarios must be at least 1'),
    ('counterfactual-output-under-file', ['counterfactual', 'generate', '--from-lexicon', '--num-scenarios', '2', '--output', 'afile/x.jsonl'], 'afile: exists and is not a folder'),
    ('counterfactual-unknown-tokenizer', ['counterfactual', 'generate', '--from-lexicon', '--num-scenarios', '2', '--tokenizers', 'no-such-model'], "tokenizer 'no-such-model' cannot be loaded"),
    ('counterfactual-batch-dir-is-file', ['counterfactual', 'batch-create', '--batch-dir', 'afile'], 'so the batch folder afile/refusal cannot be made'),
    ('counterfactual-batch-zero', ['counterfactual', 'batch-create', '--num-batches', '0'], 'num_batches must be at least 1'),
    # dataset build-steer and upload (personality)
    ('build-steer-unknown-mapping', ['dataset', 'build-steer', '--dataset', 'soda.jsonl', '--column-mapping', 'story=narrative'], "unknown field 'story' in the column mapping"),
    ('build-steer-missing-column', ['dataset', 'build-steer', '--dataset', 'soda.jsonl', '--column-mapping', 'narrative=plot'], "no column 'narrative=plot'"),
    ('build-steer-empty-dataset', ['dataset', 'build-steer', '--dataset', 'soda_empty.jsonl'], 'empty dataset, no usable situation'),
    ('build-steer-undefined-variable', ['dataset', 'build-steer', '--dataset', 'soda.jsonl', '--roleplay-prompt-template', 'bad.j2'], "template uses an undefined variable ('mood' is undefined)"),
    ('build-steer-output-is-file', ['dataset', 'build-steer', '--dataset', 'soda.jsonl', '--output', 'afile'], 'afile: the output path is a file'),
    ('build-steer-no-api-key', ['dataset', 'build-steer', '--dataset', 'soda.jsonl', '--model', 'gpt-4o'], 'set the environment variable OPENAI_API_KEY'),
    ('build-steer-unreachable', ['dataset', 'build-steer', '--dataset', 'soda.jsonl', '--model', 'x', '--base-url', 'http://127.0.0.1:9/v1'], 'cannot reach http://127.0.0.1:9/v1'),
    ('build-steer-zero', ['dataset', 'build-steer', '--dataset', 'soda.jsonl', '--limit-samples', '0'], 'limit_samples must be at least 1'),
    ('build-steer-no-dataset', ['dataset', 'build-steer', '--dataset', 'nosuch.jsonl'], 'nosuch.jsonl: no such file or folder'),
    ('upload-no-file', ['dataset', 'upload', '--dataset-file', 'nosuch.jsonl', '--repo-id', 'me/x'], 'nosuch.jsonl: no such dataset file'),
    ('upload-bad-repo', ['dataset', 'upload', '--dataset-file', 'soda.jsonl', '--repo-id', 'noslash'], "repo_id 'noslash' must look like user/name"),
    ('upload-not-personality-rows', ['dataset', 'upload', '--dataset-file', 'soda.jsonl', '--repo-id', 'me/x'], 'not a personality steering row'),
    ('upload-no-token', ['dataset', 'upload', '--dataset-file', 'caa.jsonl', '--repo-id', 'me/x'], 'set the environment variable HF_TOKEN'),
    ('counterfactual-submit-unprepared', ['counterfactual', 'batch-submit', '--batch-dir', 'nosuchdir'], 'no batch metadata; run `steer counterfactual batch-create` first'),
    ('counterfactual-status-unprepared', ['counterfactual', 'batch-status', '--batch-dir', 'nosuchdir'], 'no batch metadata'),
    ('counterfactual-download-unprepared', ['counterfactual', 'batch-download', '--batch-dir', 'nosuchdir'], 'no batch metadata'),
    ('counterfactual-process-unprepared', ['counterfactual', 'batch-process', '--batch-dir', 'nosuchdir'], 'no batch metadata'),
    ('counterfactual-unknown-command', ['counterfactual', 'nosuch'], "unknown command 'nosuch' in 'steer counterfactual'"),
    # persona
    ('train-persona-one-side', ['train', '--pos-dataset', 'nosuchdir'], 'needs --pos-dataset and exactly one of --neg-dataset'),
    ('train-persona-not-a-dataset', ['train', '--pos-dataset', 'afile', '--neg-dataset', 'afile'], 'afile: not a persona dataset'),
    ('persona-missing-field', ['persona', 'build', '--type', 'traits', '--name', 'nofield', '--personas', 'personas'], "nofield.json: field 'instruction[0].neg' is missing"),
    ('persona-empty-questions', ['persona', 'build', '--type', 'traits', '--name', 'analytical', '--personas', 'emptyq'], 'the question file is empty'),
    ('persona-unknown-name', ['persona', 'build', '--type', 'traits', '--name', 'nosuch', '--personas', 'personas'], "unknown trait 'nosuch'"),
    ('persona-zero-questions', ['persona', 'build', '--type', 'traits', '--name', 'analytical', '--num-questions', '0'], 'num_questions must be at least 1'),
    ('persona-list-bad-type', ['persona', 'list', '--type', 'planets'], "unknown persona type 'planets'"),
    ('persona-list-no-folder', ['persona', 'list', '--personas', 'nosuchdir'], 'nosuchdir: no persona folder'),
    ('persona-create-min-score', ['persona', 'create', '--type', 'roles', '--name', 'accountant', '--min-score', '5'], 'min_score 5 is outside the role scale 0–3'),
    ('persona-create-trait-min-score', ['persona', 'create', '--type', 'traits', '--name', 'analytical', '--min-score', '101'], 'outside the trait scale 0–100'),
    ('persona-create-unknown', ['persona', 'create', '--type', 'traits', '--name', 'nosuch'], "unknown trait 'nosuch'"),
    ('persona-build-all-workers', ['persona', 'build-all', '--workers', '0'], 'workers must be at least 1'),
    ('persona-build-all-empty-questions', ['persona', 'build-all', '--personas', 'emptyq'], 'the question file is empty'),
    ('persona-import-missing', ['persona', 'import', '--source', 'nosuchdir'], 'nosuchdir: no such folder'),
    ('persona-import-not-persona-subspace', ['persona', 'import', '--source', 'personas'], 'no model folders with roles_240/traits_240'),
    ('persona-unknown-command', ['persona', 'nosuch'], "unknown command 'nosuch' in 'steer persona'"),
    # docs
    ('docs-outside-repository', ['docs'], 'no settings.ini in'),
    # the command line itself
    ('unknown-command', ['no-such-command'], "unknown command 'no-such-command'"),
]

def snapshot(folder:Path) -> dict:
    return {str(p.relative_to(folder)): p.stat().st_size if p.is_file() else 'dir' for p in sorted(folder.rglob('*'))}

@pytest.fixture(scope='module')
def bad_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp('bad'); write_bad_files(d); return d

@pytest.mark.parametrize('case', CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(case, bad_dir, capsys, monkeypatch):
    _, argv, words = case
    monkeypatch.chdir(bad_dir)
    for secret in ('STEER_SERVE_API_KEY', 'OPENAI_API_KEY', 'OPENROUTER_API_KEY', 'HF_TOKEN'): monkeypatch.delenv(secret, raising=False)
    before = snapshot(bad_dir)
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith(f'steer {argv[0]}') and 'Traceback' not in err, err
    assert words in err, err
    assert snapshot(bad_dir) == before, 'the command left files behind'

def test_corpus_size():
    commands = {' '.join(c[1][:2]) if ' '.join(c[1][:2]) in COMMANDS else c[1][0] for c in CASES}
    print(f'bad-input corpus: {len(CASES)} cases over {len(commands)} commands')
    assert len(CASES) >= 60
    assert commands >= set(COMMANDS), f'commands without a bad-input case: {sorted(set(COMMANDS) - commands)}'

@pytest.mark.parametrize('argv,words', [(['train', '--contrast-type', 'tom', '--layers', '5,abc'], "bad layer 'abc'"),
                                        (['evaluate', 'truncated.safetensors'], 'not a readable safetensors file')])
def test_as_a_real_process(argv, words, bad_dir):
    p = run(STEER + argv, cwd=bad_dir)
    assert p.proc.returncode == 2 and len(p.output.strip().splitlines()) == 1 and words in p.output, p.output

def _can_bind_read_only() -> bool:
    probe = subprocess.run(['unshare', '-m', 'sh', '-c', 'mount --bind /tmp /tmp && mount -o remount,bind,ro /tmp'], capture_output=True)
    return probe.returncode == 0

def test_read_only_output_folder(tmp_path):
    "A folder the process may not write in: a read-only bind mount (root ignores permission bits), else chmod as a normal user"
    folder = tmp_path/'readonly'; folder.mkdir()
    cmd = [*STEER, 'train', '--contrast-type', 'tom', '--layers', '12', '--num-samples', '4', '--output-dir', str(folder)]
    if os.geteuid() != 0:
        folder.chmod(0o555); p = run(cmd)
    elif _can_bind_read_only():
        script = f'mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && exec "$@"'
        p = run(['unshare', '-m', 'sh', '-c', script, 'sh', *cmd])
    else: pytest.skip('running as root without mount namespaces: no way to make a read-only folder here')
    assert p.proc.returncode == 2, p.output
    lines = p.output.strip().splitlines()
    assert len(lines) == 1 and 'cannot write the output_dir here' in lines[0] and 'Traceback' not in p.output, p.output
    assert list(folder.iterdir()) == []
