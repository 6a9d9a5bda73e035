"Extraction readers on the second embedded architecture: Gemma 3 is read through its own forward with hooks, exactly."
import torch
from steer.core import data_dir
from steer.models import load_model
from steer.pairs import pair_texts, read_contrast_pairs
from steer.activations import read_activations
from steer.packed_llama import packed_support
from steer.extract import choose_reader, read_pair_activations, extract_vector

LAYERS = [0, 8, 17]

def full_text_reading(model, tokenizer, pairs, position):
    "Each side's whole text read alone (batched, left padded): ({layer: [n, hidden]}, {layer: [n, hidden]})"
    pos, neg, n_pos, n_neg = pair_texts(tokenizer, pairs)
    def read(texts, counts):
        out = {l: torch.zeros(len(texts), model.config.hidden_size) for l in LAYERS}
        for idx, acts in read_activations(model, tokenizer, texts, LAYERS, position, counts, progress=False):
            for l in LAYERS: out[l][idx] = acts[l]
        return out
    return read(pos, n_pos), read(neg, n_neg)

def test_gemma_takes_the_hooks_reader_and_reads_exactly():
    model, tokenizer = load_model('gemma-3-270m')
    assert 'gemma3' in packed_support(model) and choose_reader(model) == 'hooks'
    pairs = read_contrast_pairs(data_dir()/'contrast_pairs'/'irony.json')[:3] + read_contrast_pairs(data_dir()/'contrast_pairs'/'tom.json')[:3]
    for position in ('last', 'mean'):
        ref_pos, ref_neg = full_text_reading(model, tokenizer, pairs, position)
        stats, seen = {}, []
        for idx, pos, neg in read_pair_activations(model, tokenizer, pairs, LAYERS, position, batch_size=2, progress=False, stats=stats):
            seen += idx
            for l in LAYERS:
                for got, ref in ((pos[l], ref_pos[l][idx]), (neg[l], ref_neg[l][idx])):
                    assert (1 - torch.cosine_similarity(got, ref, dim=1)).max() <= 1e-5, (position, l)
        assert sorted(seen) == list(range(len(pairs))) and stats['reader'] == 'hooks'
        assert stats['tokens_processed'] < stats['tokens_full_texts']
    vec = extract_vector(model, tokenizer, pairs, layers='8', progress=False)
    assert vec.metadata['reader'] == 'hooks' and vec.metadata['model_type'].startswith('gemma3')
