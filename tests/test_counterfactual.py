"""steer counterfactual: token validation on hand-made pairs, offline lexicon builds through the CLI (200 scenarios,
SIGKILL + resume, bad input), and the API path and the Batch API workflow against `steer serve` on 127.0.0.1."""
import json, random, subprocess, sys
from collections import Counter
from pathlib import Path
import httpx, pytest
from harness import STEER, kill_at, paused, read_rows, run, start_server, stop_server, whole_lines
from steer.core import read_json

TOKENIZERS = ('smollm2-135m-instruct', 'gemma-3-270m')
TYPES = ['single_token_prompt', 'single_token_counterfactual', 'multi_token_prompt', 'multi_token_counterfactual']
FAST = ['--retry-wait', '0.01,0.05', '--log-level', 'INFO']   # the 4-60 s backoff, shrunk for tests

@pytest.fixture(scope='module')
def hf_tokenizers():
    "The embedded tokenizers loaded with transformers directly: the rows are checked independently of steer's validator"
    from transformers import AutoTokenizer
    from steer.models import resolve_model_source
    return {n: AutoTokenizer.from_pretrained(resolve_model_source(n)) for n in TOKENIZERS}

def check_dataset(rows:list[dict], hf_tokenizers:dict, task:str) -> list[tuple[str, str]]:
    "Every scenario has its four rows in order, each pair one token apart under every tokenizer; returns the multi-token pairs"
    by_id = {}
    for r in rows: by_id.setdefault(r['scenario_id'], []).append(r)
    pairs = []
    for sid, group in by_id.items():
        assert [r['type'] for r in group] == TYPES and all(r['task'] == task for r in group), group
        for a, b in (group[0:2], group[2:4]):
            for name, tok in hf_tokenizers.items():
                x, y = tok.encode(a['text'], add_special_tokens=False), tok.encode(b['text'], add_special_tokens=False)
                assert len(x) == len(y) and sum(p != q for p, q in zip(x, y)) == 1, (name, a['text'], b['text'])
        pairs.append((group[2]['text'], group[3]['text']))
    assert len(set(pairs)) == len(pairs), 'a scenario appears twice'
    return pairs

def generate(*args) -> list[str]: return STEER + ['counterfactual', 'generate', *map(str, args)]

# --- validation, on hand-made pairs

@pytest.fixture(scope='module')
def validator():
    from steer.counterfactual import TokenValidator
    return TokenValidator()

def test_validation_pass_and_each_failure(validator):
    from steer.counterfactual import load_task
    refusal = load_task('refusal')
    pairs = [('Help me make a cake', 'Help me make a bomb'),              # valid everywhere
             ('Explain how to wash a car', 'Explain how to steal a car'), # valid everywhere
             ('Help me make a cake', 'Help me make a birthday cake'),     # length_mismatch everywhere
             ('How can I thank my boss', 'How can I blackmail my boss'),  # blackmail: 2 SmolLM2 tokens, 1 Gemma token
             ('Tell me how to buy fireworks', 'Tell me how to buy anthrax'),  # anthrax: 1 SmolLM2 token, 2 Gemma tokens
             ('Help me bake a cake', 'Help me build a bomb')]             # two words: several_differences
    v = validator.check(pairs, refusal.templates)
    assert v[0] == [] and v[1] == []
    assert sorted(v[2]) == sorted((t, f, 'length_mismatch') for t in TOKENIZERS for f in ('single_token', 'multi_token'))
    assert {(t, r) for t, _, r in v[3]} == {('smollm2-135m-instruct', 'length_mismatch')}
    assert {(t, r) for t, _, r in v[4]} == {('gemma-3-270m', 'length_mismatch')}
    assert {r for _, _, r in v[5]} == {'several_differences'} and len(v[5]) == 4

def test_identical_tokens_with_a_normalising_tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from steer.counterfactual import TokenValidator, load_task
    words = ['[UNK]', 'help', 'me', 'make', 'a', 'cake', 'bomb', '.']
    t = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token='[UNK]'))
    t.normalizer, t.pre_tokenizer = normalizers.Lowercase(), pre_tokenizers.Whitespace()
    v = TokenValidator({'lower': PreTrainedTokenizerFast(tokenizer_object=t)})
    got = v.check([('Help me make a cake', 'help me make a CAKE'), ('Help me make a cake', 'Help me make a bomb')], load_task('refusal').templates)
    assert got == [[('lower', 'single_token', 'identical_tokens'), ('lower', 'multi_token', 'identical_tokens')], []]

def test_certified_split_changes_no_verdict(validator):
    "The factored path (prefix and suffix tokenized once, words once) against whole-text encoding, on awkward random pairs"
    from steer.counterfactual import TokenValidator
    rng = random.Random(3)
    words = ['help', 'make', 'a', 'bomb', 'cake', "don't", 'I', '42', '7', 'naïve', 'co-op', 'U.S.', 'é', '中', '(x)', '"q"', 'Bob', 'the']
    pairs = []
    for _ in range(400):
        a = ' '.join(rng.choice(words) for _ in range(rng.randint(1, 6)))
        b = a.replace(rng.choice(a.split()), rng.choice(words), 1)
        pairs.append((a, b))
    templates = {'single_token': ('Answer Yes or No.\n', '\nAnswer: '), 'multi_token': ('', ''), 'spaced': ('Q: ', ' A:'), 'odd': ('Say:\n\n', '"\n')}
    assert validator.check(pairs, templates) == TokenValidator(factor=False, words=False).check(pairs, templates)
    assert validator.encoded['core'] > 0 and validator.encoded['whole'] > 0    # both paths ran

def test_word_pieces_are_exact(hf_tokenizers):
    "Texts cut into word pieces, each piece encoded once: the joined ids equal transformers' own encode of the whole text"
    from steer.counterfactual import encode_pieces, word_cutter
    rng = random.Random(5)
    words = ['How', 'can', 'I', 'help', 'my', 'neighbor', "don't", '42', 'naïve', 'U.S.', '<b>', 'a>', '(x)', '"q"', '\n', '\t', 'é', '中', '--', '...']
    texts = [''.join(rng.choice(words) + rng.choice([' ', ' ', '', '  ']) for _ in range(rng.randint(1, 10))) for _ in range(2000)]
    for name, tok in hf_tokenizers.items():
        cut = word_cutter(tok)
        assert cut is not None and any(len(cut(t)) > 2 for t in texts)
        assert encode_pieces(tok, texts, cut) == [tok.encode(t, add_special_tokens=False) for t in texts], name

def test_parsing_and_retry_rules():
    from steer.counterfactual import ParsedAnswer, Retry, is_permanent, parse_pairs
    sides = ('safe', 'harmful')
    assert parse_pairs('{"pairs": [{"safe": "Bake a pie.", "harmful": "Bake a bomb"}]}', sides) == ParsedAnswer([('Bake a pie', 'Bake a bomb')])
    assert parse_pairs('{"pairs": [{"safe": "a", "harmful": "b"}, {"safe": "c", "harm', sides).problem == 'salvaged'
    assert parse_pairs('Sure! Here you go.', sides).problem == 'not_json'
    assert [Retry().wait(i) for i in range(4)] == [4, 8, 16, 32]
    assert is_permanent('x: HTTP 404 after retries: no model') and not is_permanent('x: HTTP 503 after retries: busy')

# --- offline builds through the CLI

@pytest.fixture(scope='module')
def lexicon_200(tmp_path_factory):
    out = tmp_path_factory.mktemp('lexicon')/'refusal.jsonl'
    p = run(generate('--task', 'refusal', '--from-lexicon', '--num-scenarios', 200, '--output', out, '--no-progress'))
    assert p.proc.returncode == 0, p.output
    return out, p.output

def test_lexicon_builds_200_valid_refusal_scenarios(lexicon_200, hf_tokenizers):
    out, output = lexicon_200
    rows = read_rows(out)
    assert len(rows) == 800
    pairs = check_dataset(rows, hf_tokenizers, 'refusal')
    assert [r['scenario_id'] for r in rows[::4]] == list(range(200))
    assert rows[0]['text'].startswith('Answer this question with Yes if you will help with the question or No if not.\n')
    assert rows[0]['text'].endswith('.\nAnswer: ') and rows[2]['text'] == rows[0]['text'].split('\n')[1]
    summary = read_json(out.with_suffix('.summary.json'))
    assert summary['complete'] and summary['done'] == 200 and summary['flags'] == {}
    assert summary['rejections']['smollm2-135m-instruct']['multi_token length_mismatch'] > 0   # the lexicon's multi-token words, counted
    assert '200/200 items' in output and 'rejected (gemma-3-270m)' in output
    assert len(pairs) == 200

def test_lexicon_build_killed_and_resumed(tmp_path, lexicon_200, hf_tokenizers):
    "SIGKILL while the checkpoint is being written, then the same command again: 300 scenarios, none twice, none lost"
    out = tmp_path/'refusal.jsonl'
    cmd = generate('--task', 'refusal', '--from-lexicon', '--num-scenarios', 300, '--output', out, '--chunk-size', 8, '--no-progress')
    kill_at(cmd, env={**paused('checkpoint', 40), 'STEER_CHECKPOINT_INTERVAL': '20'}, pause='checkpoint')
    left = whole_lines(out)
    assert 0 < left < 1200 and left % 4 == 0, left
    assert list(tmp_path.glob('.refusal.checkpoint.json.*.tmp'))          # killed inside the atomic write
    p = run(cmd)
    assert p.proc.returncode == 0, p.output
    rows = read_rows(out)
    assert len(rows) == 1200 and [r['scenario_id'] for r in rows[::4]] == list(range(300))
    check_dataset(rows, hf_tokenizers, 'refusal')
    assert rows[:800] == read_rows(lexicon_200[0])                       # scenario i is the lexicon's i-th valid pair, killed or not
    summary = read_json(out.with_suffix('.summary.json'))
    assert summary['resumed'] == left // 4 and summary['written'] == 300 - left // 4
    assert not list(tmp_path.glob('.*.tmp'))

def test_no_checkpoint_build(tmp_path, hf_tokenizers, capsys):
    out = tmp_path/'sentiment.jsonl'
    p = run(generate('--task', 'sentiment', '--from-lexicon', '--num-scenarios', 30, '--output', out, '--no-checkpoint', '--no-progress'))
    assert p.proc.returncode == 0, p.output
    check_dataset(read_rows(out), hf_tokenizers, 'sentiment')
    assert sorted(x.name for x in tmp_path.iterdir()) == ['sentiment.jsonl', 'sentiment.summary.json']
    assert 'never overwrites' in cli_error(capsys, 'generate', '--task', 'sentiment', '--from-lexicon', '--num-scenarios', 30, '--output', out, '--no-checkpoint')

def cli_error(capsys, *args) -> str:
    "Run `steer counterfactual ...` in-process; it must exit 2 with one line on stderr"
    from steer.cli import main
    with pytest.raises(SystemExit) as e: main(['counterfactual', *map(str, args)])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1 and 'Traceback' not in err, err
    return err

def test_bad_input(tmp_path, capsys):
    tasks = tmp_path/'cfg'/'tasks'; tasks.mkdir(parents=True)
    good = (Path(__file__).parents[1]/'data'/'tasks'/'refusal.yaml').read_text()
    (tasks/'broken.yaml').write_text('task_name: broken\ndescription: a: b\n')
    (tasks/'nokey.yaml').write_text(good.replace('generation_instructions:', 'instructions:'))
    (tasks/'badtype.yaml').write_text(good.replace('batch_size: 10', 'batch_size: [10]'))
    out = tmp_path/'out'/'x.jsonl'
    base = ['generate', '--from-lexicon', '--num-scenarios', 4, '--output', out]
    assert "unknown task 'poetry'" in cli_error(capsys, *base, '--task', 'poetry')
    assert 'broken.yaml:2: malformed YAML' in cli_error(capsys, *base, '--task', 'broken', '--config-dir', tmp_path/'cfg')
    assert "nokey.yaml: key 'generation_instructions' is missing" in cli_error(capsys, *base, '--task', 'nokey', '--config-dir', tmp_path/'cfg')
    assert "badtype.yaml: key 'batch_size' must be a int, got list" in cli_error(capsys, *base, '--task', 'badtype', '--config-dir', tmp_path/'cfg')
    assert 'no such task file' in cli_error(capsys, *base, '--task', tmp_path/'missing.yaml')
    assert "tokenizer 'no-such-tokenizer' cannot be loaded" in cli_error(capsys, *base, '--tokenizers', 'smollm2-135m-instruct,no-such-tokenizer')
    assert 'cannot be loaded' in cli_error(capsys, *base, '--tokenizers', tmp_path/'cfg')               # a folder without a tokenizer
    (tmp_path/'file.txt').write_text('not a folder')
    assert 'exists and is not a folder' in cli_error(capsys, 'generate', '--from-lexicon', '--output', tmp_path/'file.txt'/'x.jsonl')
    assert 'output is a folder' in cli_error(capsys, 'generate', '--from-lexicon', '--output', tmp_path/'cfg')
    (tmp_path/'notes.jsonl').write_text('{"mine": true}\n')
    assert 'exists without a checkpoint' in cli_error(capsys, 'generate', '--from-lexicon', '--num-scenarios', 4, '--output', tmp_path/'notes.jsonl')
    assert 'the lexicon gives' in cli_error(capsys, *base, '--task', 'factual', '--num-scenarios', 500)
    assert 'log_level must be one of' in cli_error(capsys, *base, '--log-level', 'LOUD')
    assert 'no batch metadata' in cli_error(capsys, 'batch-submit', '--batch-dir', tmp_path/'requests')
    assert not (tmp_path/'out').exists() and (tmp_path/'notes.jsonl').read_text() == '{"mine": true}\n'
    # and once as a real process: exit status 2, one line, no traceback
    p = subprocess.run(generate('--task', 'poetry', '--from-lexicon', '--output', out), capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.strip().count('\n') == 0 and "unknown task 'poetry'" in p.stderr

# --- the API path against steer serve

@pytest.fixture(scope='module')
def fault_server():
    "`steer serve` on 127.0.0.1 with POST /_test/faults, to make requests fail on purpose"
    base, proc = start_server('--test-faults')
    yield base
    stop_server(proc)

def test_api_build_against_steer_serve(tmp_path, fault_server, hf_tokenizers):
    "Faults, JSON-mode refusal, parsing, validation, retries and resume, on the embedded 135M model behind steer serve"
    out = tmp_path/'sentiment.jsonl'
    args = ['--task', 'sentiment', '--model', 'smollm2-135m-instruct', '--base-url', f'{fault_server}/v1', '--output', out,
            '--pairs-per-request', 2, '--chunk-size', 1, '--regenerations', 3, '--no-progress', *FAST]
    httpx.post(f'{fault_server}/_test/faults', json={'status': 500, 'count': 2}).raise_for_status()
    p = run(generate('--num-scenarios', 1, *args))
    assert p.proc.returncode == 0, p.output
    first = read_json(out.with_suffix('.summary.json'))
    ev = first['events']
    print('first run:', json.dumps(ev), first['usage'])
    assert ev['retried: api error'] >= 2 and p.output.count('injected 500 for testing') >= 2   # the two injected 500s, each asked again
    assert ev['json mode refused by the server: asked again without it'] == 1
    assert ev['requests'] >= 4 and ev['pairs parsed'] >= 1 and ev['valid pairs'] >= 1
    assert first['usage']['prompt_tokens'] > 0 and first['usage']['completion_tokens'] > 0
    assert 'server does not support JSON mode' in p.output and 'estimated cost unknown' in p.output
    assert 'so far' in p.output and 'tokens in' in p.output                # cost logged as it runs
    p = run(generate('--num-scenarios', 2, *args))                        # resume: one more scenario, none repeated
    assert p.proc.returncode == 0, p.output
    second = read_json(out.with_suffix('.summary.json'))
    print('second run:', json.dumps(second['events']), second['usage'])
    assert (second['resumed'], second['written'], second['done']) == (1, 1, 2)
    assert second['usage']['prompt_tokens'] > first['usage']['prompt_tokens']   # tokens of both runs
    check_dataset(read_rows(out), hf_tokenizers, 'sentiment')

def test_api_error_that_retrying_cannot_fix(tmp_path, steer_server, capsys):
    "A model the server does not serve: HTTP 404, not retried; one line, exit 2, no files left"
    err = cli_error(capsys, 'generate', '--model', 'no-such-model', '--base-url', f'{steer_server}/v1', '--output', tmp_path/'x.jsonl',
                    '--num-scenarios', 1, '--retry-wait', '0.01,0.05', '--log-level', 'WARNING', '--no-progress')
    assert 'HTTP 404' in err and 'no-such-model' in err
    assert not list(tmp_path.iterdir())

def test_batch_workflow_against_steer_serve(tmp_path, steer_server, hf_tokenizers):
    d = tmp_path/'requests'
    common = ['--task', 'sentiment', '--batch-dir', d]
    def cf(*args):
        p = run(STEER + ['counterfactual', *map(str, args)])
        assert p.proc.returncode == 0, p.output
        return p.output
    out = cf('batch-create', *common, '--num-batches', 1, '--requests-per-batch', 10, '--pairs-per-request', 2,
             '--model', 'smollm2-135m-instruct', '--base-url', f'{steer_server}/v1')
    assert 'JSON mode off' in out                                          # steer serve refused the probe
    meta = read_json(d/'sentiment'/'batch_metadata.json')
    assert (meta['json_mode'], meta['prefill'], len(meta['batches'])) == (False, True, 1)
    cf('batch-submit', *common)
    assert 'submitted' in cf('batch-submit', *common)                      # again: nothing new is submitted
    assert 'completed 1' in cf('batch-status', *common, '--wait', '--poll-interval', 0.5, '--timeout', 600)
    cf('batch-download', *common)
    meta = read_json(d/'sentiment'/'batch_metadata.json')
    assert meta['batches'][0]['status'] == 'completed' and Path(meta['batches'][0]['results_file']).exists()
    result = tmp_path/'batch.jsonl'
    out = cf('batch-process', *common, '--target-scenarios', 3, '--output', result)
    summary = read_json(result.with_suffix('.summary.json'))
    print(out, json.dumps(summary['counts']))
    assert summary['counts']['responses'] == 10 and summary['counts']['pairs parsed'] > 0
    assert 1 <= summary['scenarios'] <= 3 and summary['usage']['completion_tokens'] > 0
    check_dataset(read_rows(result), hf_tokenizers, 'sentiment')
