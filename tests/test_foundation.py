"Foundation: the steer command, the embedded models and their cache, one-line errors."
import json, subprocess
from pathlib import Path
import torch
from steer.cli import COMMANDS
from steer.models import load_model, decoder_layers, embedded_gguf, gguf_cache_path, format_chat

def run(cmd, **kw): return subprocess.run(cmd, capture_output=True, text=True, **kw)

def test_help_lists_every_subcommand(steer_bin):
    out = run([steer_bin, '--help'])
    assert out.returncode == 0
    for name in COMMANDS: assert f'  {name} ' in out.stdout
    sub = run([steer_bin, 'demo', '--help'])
    assert sub.returncode == 0 and '--layer' in sub.stdout and '--multipliers' in sub.stdout

def test_bad_input_is_one_line_and_writes_nothing(steer_bin, tmp_path):
    bad = tmp_path/'pairs.json'
    bad.write_text(json.dumps([{'prompt': 'p', 'positive': 'x'}]))
    for args, expected in [(['--multipliers', 'a,b'], 'bad multipliers'),
                           (['--layer', '31'], 'out of range'),
                           (['--data-file', str(bad)], 'missing negative'),
                           (['--model', 'no-such-model'], 'unknown model')]:
        out = run([steer_bin, 'demo', '--output_dir', str(tmp_path/'out'), *args])
        assert out.returncode == 2, out.stderr
        assert expected in out.stderr and 'Traceback' not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert not (tmp_path/'out').exists()

def test_gguf_cache_is_bit_identical(smollm):
    "The cached safetensors model gives exactly the logits of the model dequantized straight from the GGUF"
    from transformers import AutoModelForCausalLM
    model, tokenizer = smollm
    gguf = embedded_gguf('smollm2-135m-instruct')
    assert (gguf_cache_path(gguf)/'model.safetensors').exists()
    direct = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    ids = tokenizer(format_chat(tokenizer, 'Name a colour.'), return_tensors='pt')
    with torch.inference_mode(): assert torch.equal(direct(**ids).logits, model(**ids).logits)

def test_gguf_file_path_loads_through_the_same_cache(smollm):
    model, _ = load_model(str(embedded_gguf('smollm2-135m-instruct')))
    assert model is smollm[0]          # same cached source folder -> same in-process object

def test_second_embedded_model_gemma():
    "The second architecture and tokenizer: Gemma 3 270M base (18 blocks, no chat template)"
    model, tokenizer = load_model('gemma-3-270m')
    assert type(model).__name__ == 'Gemma3ForCausalLM'
    assert len(decoder_layers(model)) == 18
    text = format_chat(tokenizer, 'Hello')
    assert text.endswith('Assistant:')
    with torch.inference_mode(): out = model(**tokenizer(text, return_tensors='pt'))
    assert out.logits.shape[-1] == model.config.vocab_size
