"""VideoLanguageModel: prefix-LM masking, cached decoding, sampling rules, overfitting."""

import pytest
import torch

from genvid.models.lm import VideoLanguageModel, prefix_lm_mask
from genvid.models.sampling import DecodeStep, DynamicCache, StaticCache, generate, process_logits
from genvid.models.ar_tasks import TASKS, random_region_mask
from genvid.models.sequence import BOV, EOS, MASK, TEXT, Vocabulary, build_sequence

CODEBOOK = 64
TEXT_WIDTH = 16


def tiny_model(sliding_window=None, **overrides):
    torch.manual_seed(0)
    config = dict(
        codebook_size=CODEBOOK, hidden_size=64, num_layers=3, num_heads=4, num_kv_heads=2,
        text_hidden_size=TEXT_WIDTH, max_sequence_length=96, sliding_window=sliding_window, local_global_pattern=3,
    )
    config.update(overrides)
    return VideoLanguageModel(**config).eval()


def tiny_batch(task="i2v", batch=2, text_length=4, grid=(2, 3, 3), seed=0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, CODEBOOK, (batch, *grid), generator=generator) + 32
    example = TASKS[task].example(ids, generator)
    sequence = build_sequence(task, batch, text_length, example.condition_ids, example.target_ids)
    text = torch.randn(batch, text_length, TEXT_WIDTH, generator=generator)
    text_mask = torch.ones(batch, text_length, dtype=torch.bool)
    text_mask[0, -2:] = False  # padded text in one row
    return sequence, text, text_mask


def test_vocabulary_and_layout():
    vocabulary = Vocabulary(codebook_size=CODEBOOK, num_audio_codebooks=2, audio_codebook_size=8)
    assert vocabulary.size == 32 + CODEBOOK + 16
    codes = torch.tensor([[0, 5, CODEBOOK - 1]])
    assert torch.equal(vocabulary.ids_to_video(vocabulary.video_to_ids(codes)), codes)
    audio = torch.randint(0, 8, (1, 2, 5))
    audio_ids = vocabulary.audio_to_ids(audio)
    assert audio_ids.min() >= vocabulary.audio_start and audio_ids.max() < vocabulary.size
    assert torch.equal(vocabulary.ids_to_audio(audio_ids), audio)
    sequence, _, _ = tiny_batch("i2v")
    row = sequence.input_ids[0]
    assert row[1] == TASKS["i2v"].token_id and (row[2:6] == TEXT).all()
    assert row[sequence.prefix_length - 1] == BOV and row[-1] == EOS
    assert sequence.target_length == 2 * 9 - 9  # first latent frame given


def test_mask_is_bidirectional_in_prefix_and_causal_after():
    positions = torch.arange(7)
    mask = prefix_lm_mask(positions, positions, torch.tensor([3]))[0, 0]
    for query in range(7):
        for key in range(7):
            expected = key <= query or (key < 3 and query < 3)
            assert bool(mask[query, key]) == expected, (query, key)
    windowed = prefix_lm_mask(positions, positions, torch.tensor([3]), window=2)[0, 0]
    assert not windowed[5, 3] and windowed[5, 4] and windowed[0, 1] and not windowed[0, 2]


def test_future_targets_do_not_leak_and_prefix_is_bidirectional():
    model = tiny_model()
    sequence, text, text_mask = tiny_batch()
    ids = sequence.input_ids
    prefix = sequence.prefix_length
    logits = model(ids, text, text_mask, prefix)

    later_target = ids.clone()
    later_target[:, -3] = 32 + (later_target[:, -3] - 32 + 1) % CODEBOOK
    changed = model(later_target, text, text_mask, prefix)
    torch.testing.assert_close(changed[:, : ids.shape[1] - 3], logits[:, : ids.shape[1] - 3], rtol=0, atol=0)
    assert not torch.allclose(changed[:, -3:], logits[:, -3:])

    later_prefix = ids.clone()
    later_prefix[:, prefix - 3] = 32 + (later_prefix[:, prefix - 3] - 32 + 1) % CODEBOOK  # a conditioning token
    changed = model(later_prefix, text, text_mask, prefix)
    assert not torch.allclose(changed[:, :2], logits[:, :2])  # <bos>/<task> see the later prefix token

    padded_text = text.clone()
    padded_text[0, -2:] += 5.0  # masked-out text has no effect
    torch.testing.assert_close(model(ids, padded_text, text_mask, prefix)[0, prefix:], logits[0, prefix:])


@pytest.mark.parametrize("sliding_window", [None, 40])
def test_training_forward_builds_no_dense_mask_and_matches_math(monkeypatch, sliding_window):
    import genvid.models.lm as lm_module

    model = tiny_model(sliding_window)
    sequence, text, text_mask = tiny_batch("i2v")  # row 0 has padded text
    ids, prefix = sequence.input_ids, sequence.prefix_length
    real = torch.ones_like(ids, dtype=torch.bool).masked_scatter(ids == TEXT, text_mask)

    def loss_and_gradients():
        model.zero_grad()
        logits = model(ids, text, text_mask, prefix)
        loss = (logits.float().log_softmax(-1)[..., 40] * real).sum()
        loss.backward()
        return logits, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    def no_dense_mask(*args, **kwargs):
        raise AssertionError("a dense prefix-LM mask was built for a whole sequence")

    monkeypatch.setattr(lm_module, "prefix_lm_mask", no_dense_mask)
    fast_logits, fast_grads = loss_and_gradients()
    monkeypatch.setenv("GENVID_ATTENTION_BACKEND", "math")
    reference_logits, reference_grads = loss_and_gradients()
    torch.testing.assert_close(fast_logits[real], reference_logits[real], atol=1e-5, rtol=1e-4)
    assert fast_grads.keys() == reference_grads.keys()
    for name in fast_grads:
        torch.testing.assert_close(fast_grads[name], reference_grads[name], atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("sliding_window", [None, 4])
@pytest.mark.parametrize("cache_kind", ["dynamic", "static"])
def test_cached_decoding_matches_full_forward(sliding_window, cache_kind):
    model = tiny_model(sliding_window)
    sequence, text, text_mask = tiny_batch("inpaint")
    ids, prefix = sequence.input_ids, sequence.prefix_length
    full = model(ids, text, text_mask, prefix)
    cache = DynamicCache(model) if cache_kind == "dynamic" else StaticCache(model, 2, ids.shape[1])
    pieces = [model(ids[:, :prefix], text, text_mask, prefix, cache=cache)]
    step = DecodeStep(model, cache) if cache_kind == "static" else None
    prefix_lengths = torch.full((2,), prefix)
    for position in range(prefix, ids.shape[1]):
        token = ids[:, position : position + 1]
        if step is None:
            pieces.append(model(token, prefix_length=prefix, cache=cache))
        else:
            pieces.append(step(token, torch.tensor([position]), prefix_lengths)[:, None])
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sliding_window", [None, 4])
def test_static_decode_equals_eager_cached_generation(sliding_window):
    model = tiny_model(sliding_window)
    sequence, text, text_mask = tiny_batch("t2v")
    kwargs = dict(text_hidden_states=text, text_mask=text_mask, guidance_scale=2.0, top_k=1, progress=False,
                  allowed=model.vocabulary.allowed_range("video"), return_logits=True)
    eager_ids, eager_logits = generate(model, sequence.prefix_ids, sequence.target_length, **kwargs)
    static_ids, static_logits = generate(model, sequence.prefix_ids, sequence.target_length, static_cache=True, **kwargs)
    assert torch.equal(eager_ids, static_ids)
    finite = torch.isfinite(eager_logits)
    torch.testing.assert_close(static_logits[finite], eager_logits[finite], rtol=1e-5, atol=1e-5)


def test_fully_masked_text_in_a_small_window_stays_finite():
    model = tiny_model(sliding_window=2, local_global_pattern=2)
    sequence, text, _ = tiny_batch("t2v", text_length=6)
    dropped = torch.zeros(2, 6, dtype=torch.bool)  # text dropped: some local windows hold only padding
    logits = model(sequence.input_ids, text, dropped, sequence.prefix_length)
    assert torch.isfinite(logits).all()
    without_text = model(sequence.input_ids, text * 0 + 3.0, dropped, sequence.prefix_length)
    torch.testing.assert_close(without_text[:, sequence.prefix_length :], logits[:, sequence.prefix_length :])


def test_static_decode_step_compiles_without_graph_breaks(monkeypatch):
    # fullgraph=True fails on any graph break; the "eager" backend checks the capture without the
    # minutes inductor needs on a CPU (the GPU path uses mode="reduce-overhead": CUDA graphs)
    compile_function = torch.compile
    monkeypatch.setattr(torch, "compile", lambda module, mode=None, fullgraph=False: compile_function(
        module, backend="eager", fullgraph=fullgraph))
    model = tiny_model(4)
    sequence, text, text_mask = tiny_batch("t2v")
    kwargs = dict(text_hidden_states=text, text_mask=text_mask, guidance_scale=2.0, top_k=1, progress=False,
                  allowed=model.vocabulary.allowed_range("video"))
    eager = generate(model, sequence.prefix_ids, sequence.target_length, **kwargs)
    for _ in range(2):  # the second call reuses the compiled step and its cache, reset in place
        compiled = generate(model, sequence.prefix_ids, sequence.target_length, static_cache=True, compile=True, **kwargs)
        assert torch.equal(compiled, eager)
    assert len(model.__dict__["_compiled_decoders"]) == 1


def test_sampling_rules():
    model = tiny_model()
    sequence, text, text_mask = tiny_batch("t2v")
    allowed = model.vocabulary.allowed_range("video")
    runs = [
        generate(model, sequence.prefix_ids, sequence.target_length, text, text_mask, top_k=1, allowed=allowed,
                 generator=torch.Generator().manual_seed(seed), progress=False)
        for seed in (0, 1)
    ]
    assert torch.equal(runs[0], runs[1])  # top-k 1 does not depend on the seed
    wild = generate(model, sequence.prefix_ids, sequence.target_length, text, text_mask, temperature=3.0,
                    top_p=0.99, allowed=allowed, generator=torch.Generator().manual_seed(0), progress=False)
    assert wild.min() >= allowed[0] and wild.max() < allowed[1]  # never special or audio ids
    same = generate(model, sequence.prefix_ids, sequence.target_length, text, text_mask, temperature=3.0,
                    top_p=0.99, allowed=allowed, generator=torch.Generator().manual_seed(0), progress=False)
    assert torch.equal(wild, same)

    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    assert torch.isinf(process_logits(logits, top_k=2)).tolist() == [[True, True, False, False]]
    assert torch.isinf(process_logits(logits, allowed=(1, 3))).tolist() == [[True, False, False, True]]
    nucleus = process_logits(torch.tensor([[0.0, 0.0, 10.0, 0.0]]), top_p=0.5)
    assert torch.isfinite(nucleus).tolist() == [[False, False, True, False]]


def test_forced_tokens_are_kept():
    model = tiny_model()
    generator = torch.Generator().manual_seed(3)
    grid = torch.randint(0, CODEBOOK, (2, 2, 3, 3), generator=generator) + 32
    region = random_region_mask((2, 2, 3, 3), "inpaint", generator)
    forced = torch.where(region.flatten(1), -1, grid.flatten(1))
    sequence = build_sequence("t2v", 2, 0, None, target_length=forced.shape[1])
    tokens = generate(model, sequence.prefix_ids, sequence.target_length, forced=forced,
                      allowed=model.vocabulary.allowed_range("video"), generator=generator, progress=False)
    given = forced >= 0
    assert torch.equal(tokens[given], forced[given])


def test_context_overflow_is_a_clear_error():
    model = tiny_model()
    with pytest.raises(ValueError, match="max_sequence_length=96"):
        generate(model, torch.ones(1, 50, dtype=torch.long), 60, progress=False)
    with pytest.raises(ValueError, match="longer than the model's context"):
        model(torch.ones(1, 100, dtype=torch.long))


def test_gradient_checkpointing_gives_the_same_gradients():
    sequence, text, text_mask = tiny_batch()
    grads = []
    for checkpointing in (False, True):
        model = tiny_model(4).train()
        if checkpointing:
            model.enable_gradient_checkpointing()
        model(sequence.input_ids, text, text_mask, sequence.prefix_length).square().mean().backward()
        grads.append(model.layers[0].attention.to_q.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


def test_tiny_model_overfits_and_samples_back_exactly():
    torch.manual_seed(0)
    model = VideoLanguageModel(codebook_size=32, hidden_size=64, num_layers=2, num_heads=4, text_hidden_size=8,
                               max_sequence_length=64).train()
    generator = torch.Generator().manual_seed(0)
    grids = torch.randint(0, 32, (3, 2, 2, 3), generator=generator) + 32
    texts = torch.randn(3, 3, 8, generator=generator)
    example = TASKS["t2v"].example(grids)
    sequence = build_sequence("t2v", 3, 3, target_ids=example.target_ids)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    prefix = sequence.prefix_length
    for _ in range(40):
        logits = model(sequence.input_ids, texts, prefix_length=prefix, num_logits=sequence.target_length + 2)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), sequence.target_ids.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    model.eval()
    sampled = generate(model, sequence.prefix_ids, sequence.target_length, texts, top_k=1,
                       allowed=model.vocabulary.allowed_range("video"), progress=False)
    assert torch.equal(sampled, example.target_ids)


def test_save_load_round_trip_with_tied_embeddings(tmp_path):
    model = tiny_model(tie_word_embeddings=True)
    model.save_pretrained(tmp_path / "lm")
    loaded = VideoLanguageModel.from_pretrained(tmp_path / "lm").eval()
    sequence, text, text_mask = tiny_batch()
    arguments = (sequence.input_ids, text, text_mask, sequence.prefix_length)
    assert torch.equal(model(*arguments), loaded(*arguments))


def test_task_conditioning_layouts():
    generator = torch.Generator().manual_seed(0)
    grid = torch.randint(0, CODEBOOK, (6, 3, 4, 4), generator=generator) + 32
    for kind in ("inpaint", "outpaint"):
        regions = random_region_mask(tuple(grid.shape), kind, generator)
        assert regions.shape == grid.shape and regions.any(dim=(1, 2, 3)).all() and not regions.all()
        example = TASKS[kind].example(grid, region=regions[0])  # one region for the whole batch
        region = regions[:1].expand_as(grid)
        assert torch.equal(example.condition_ids == MASK, region.flatten(1))  # hidden exactly where generated
        assert torch.equal(example.target_ids, grid[region].reshape(6, -1))  # the region alone, raster order
        drawn = TASKS[kind].example(grid, generator)
        assert drawn.target_ids.shape[1] <= 3 * 16 - 16  # within the task's longest sequence
        assert drawn.condition_ids.shape[1] + drawn.target_ids.shape[1] <= TASKS[kind].longest(48, 16, 0)
    continued = TASKS["continue"].example(grid, num_given_frames=2)
    assert continued.condition_ids.shape[1] == 2 * 16 and continued.target_ids.shape[1] == 16
    assert TASKS["t2v"].example(grid).condition_ids is None
