"""The LM's audio tasks: v2a / a2v in the training mixture, and through GenVidARPipeline (CPU, tiny)."""

import json

import pytest
import torch

from genvid.data import DataConfig, build_dataset, collate_videos
from genvid.errors import GenvidError
from genvid.models.ar_tasks import TASKS
from genvid.models.sampling import generate
from genvid.pipelines.ar import GenVidARPipeline
from genvid.training.tasks.lm import LanguageModelOptions, LanguageModelTask
from helpers import train_on_batch

TOKENIZER_CONFIG = dict(bottleneck="fsq", fsq_levels=[4, 4], base_channels=8, channel_multipliers=[1, 2, 2, 2],
                        num_res_blocks=1, num_mid_blocks=1)
CODEC_CONFIG = dict(base_channels=4, channel_multipliers=[1, 2, 2, 2], latent_dim=8, num_codebooks=3,
                    codebook_size=16, dilations=[1])
MODEL = dict(hidden_size=32, num_layers=2, num_heads=2, num_audio_codebooks=2, max_sequence_length=96)


@pytest.fixture(scope="module")
def trained():
    """A tiny LM trained on one batch of a v2a + a2v mixture (text-free audio tasks)."""
    torch.manual_seed(0)
    data = DataConfig(source="synthetic", num_samples=4, num_frames=5, height=16, width=16, audio_sample_rate=16000)
    options = LanguageModelOptions(tokenizer_config=TOKENIZER_CONFIG, audio_codec_config=CODEC_CONFIG,
                                   text_max_length=8, task_weights={"v2a": 0.7, "a2v": 0.3})
    task = LanguageModelTask(dict(MODEL), options, data)
    model = task.build_model()
    task.setup("cpu")
    batch = collate_videos([build_dataset(data)[index] for index in range(2)])
    losses, _ = train_on_batch(task, model, batch, torch.optim.AdamW(model.parameters(), lr=3e-3), steps=40)
    losses = [float(loss) for loss in losses]
    pipe = task.pipeline(model.eval())
    pipe.set_progress_bar_config(disable=True)
    return task, pipe, batch, losses


def test_vocabulary_makes_room_for_the_codec_levels_the_lm_uses(trained):
    task, pipe, _, _ = trained
    vocabulary = pipe.transformer.vocabulary
    assert vocabulary.num_audio_codebooks == 2 and vocabulary.audio_codebook_size == 16
    assert vocabulary.size == 32 + 16 + 2 * 16
    assert vocabulary.audio_level_range(1) == (32 + 16 + 16, 32 + 16 + 32)


def test_audio_mixture_trains(trained):
    _, _, _, losses = trained
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5


def test_v2a_emits_only_audio_ids_of_the_right_level(trained):
    _, pipe, batch, _ = trained
    model, vocabulary = pipe.transformer, pipe.transformer.vocabulary
    from genvid.models.sequence import build_sequence

    grid = pipe.tokenize(batch["video"][:1], "cpu")
    sequence = build_sequence("v2a", 1, 8, grid.flatten(1), target_length=50, target_kind="audio")
    text = torch.zeros(1, 8, model.config.text_hidden_size)
    tokens = generate(model, sequence.prefix_ids, 50, text, torch.zeros(1, 8, dtype=torch.bool), temperature=3.0,
                      allowed=TASKS["v2a"].allowed(vocabulary), generator=torch.Generator().manual_seed(1), progress=False)
    for index in range(50):
        low, high = vocabulary.audio_level_range(index % 2)
        assert low <= int(tokens[0, index]) < high


def test_v2a_pipeline_returns_the_clip_and_its_sound(trained, tmp_path):
    _, pipe, batch, _ = trained
    video = batch["video"][0]
    output = pipe(video=video, task="v2a", generator=torch.Generator().manual_seed(0), output_type="pt")
    assert output.audio.shape == (1, 5 * 2000)  # 5 frames at 8 fps, 16 kHz
    assert output.audio.abs().max() <= 1
    assert output.frames.shape == (1, 5, 3, 16, 16)
    both = pipe(video=batch["video"], task="v2a", output_type="latent")  # a batch of clips, no prompt
    assert both.audio.shape == (2, 2, 25) and both.frames.shape == (2, 2, 2, 2)
    # the tiny model was fitted on this clip's sound: greedy decoding gives back its codes
    codec = pipe.audio_codec
    greedy = pipe(video=video, task="v2a", temperature=0, output_type="latent").audio
    expected = codec.encode(codec.fit_to_frames(batch["audio"][:1], 25), num_codebooks=2)
    assert greedy.shape == expected.shape == (1, 2, 25)
    assert (greedy == expected).float().mean() > 0.9


def test_a2v_pipeline_and_save_load_with_the_codec(trained, tmp_path):
    _, pipe, batch, _ = trained
    first = pipe(audio=batch["audio"][0], num_frames=5, height=16, width=16, output_type="latent",
                 generator=torch.Generator().manual_seed(3))
    assert first.frames.shape == (1, 2, 2, 2) and first.audio.shape == (1, 10000)
    pipe.save_pretrained(tmp_path / "ar")
    index = json.loads((tmp_path / "ar" / "model_index.json").read_text())
    assert index["audio_codec"][1] == "AudioCodec"
    loaded = GenVidARPipeline.from_pretrained(tmp_path / "ar")
    loaded.set_progress_bar_config(disable=True)
    again = loaded(audio=batch["audio"][0], num_frames=5, height=16, width=16, output_type="latent",
                   generator=torch.Generator().manual_seed(3))
    assert torch.equal(first.frames, again.frames)


def test_a_pipeline_without_codec_says_so(trained, tmp_path):
    _, pipe, batch, _ = trained
    bare = GenVidARPipeline(video_tokenizer=pipe.video_tokenizer, text_encoder=pipe.text_encoder,
                            transformer=pipe.transformer)
    bare.save_pretrained(tmp_path / "bare")
    loaded = GenVidARPipeline.from_pretrained(tmp_path / "bare")
    assert loaded.audio_codec is None
    with pytest.raises(GenvidError, match="audio codec"):
        loaded(video=batch["video"][0], task="v2a")


def test_audio_tasks_need_a_codec_and_sound():
    from genvid.config import ConfigError

    with pytest.raises(ConfigError, match="audio_codec"):
        LanguageModelTask({}, LanguageModelOptions(tokenizer_config=TOKENIZER_CONFIG, task_weights={"v2a": 1.0}), None)
    data = DataConfig(num_frames=5, height=16, width=16)
    with pytest.raises(ConfigError, match="audio_sample_rate"):
        LanguageModelTask({}, LanguageModelOptions(tokenizer_config=TOKENIZER_CONFIG, audio_codec_config=CODEC_CONFIG,
                                                   task_weights={"a2v": 1.0}), data)
