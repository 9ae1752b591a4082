"""Teaching sound to trained soundless generators (genvid.training.initial_weights), and the demo
recipe's sound stage end to end on tiny models: fine-tune start, install with the codec, and every
sound path of `genvid generate` from the installed copy."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from genvid.errors import GenvidError
from helpers import TINY_SOUND_TOKENIZER, save_tiny_audio_codec
from genvid.models.dit import VideoDiffusionTransformer
from genvid.models.lm import VideoLanguageModel
from genvid.models.sequence import TEXT
from genvid.training.initial_weights import load_matching_weights

DIT = dict(in_channels=4, hidden_size=32, num_layers=2, num_heads=2, text_hidden_size=16)
LM = dict(codebook_size=16, hidden_size=32, num_layers=2, num_heads=2, text_hidden_size=16, max_sequence_length=64)
AUDIO = dict(num_audio_codebooks=2, audio_codebook_size=8)


def saved(model, folder: Path) -> Path:
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=torch.Generator().manual_seed(parameter.numel())))
    path = folder / "weights.safetensors"
    save_file({name: tensor.contiguous() for name, tensor in model.state_dict().items()}, str(path))
    return path


def dit_inputs():
    generator = torch.Generator().manual_seed(0)
    latents = torch.randn(2, 4, 2, 4, 4, generator=generator)
    text = torch.randn(2, 5, 16, generator=generator)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    codes = torch.randint(0, 8, (2, 2, 12), generator=generator)
    return latents, torch.tensor([300.0, 700.0]), text, mask, codes


@pytest.mark.parametrize("audio_attention", ["separate", "joint"])
def test_a_dit_given_sound_starts_as_the_soundless_dit_it_loads(tmp_path, caplog, audio_attention):
    torch.manual_seed(0)
    shipped = VideoDiffusionTransformer(**DIT).eval()
    weights = saved(shipped, tmp_path)
    model = VideoDiffusionTransformer(**DIT, **AUDIO, audio_attention=audio_attention).eval()
    with caplog.at_level("INFO", logger="genvid.training"):
        new = load_matching_weights(model, weights, "shipped")
    assert new and all("audio" in name or "context_type" in name for name in new)
    assert "newly initialised: audio_embedding.weight" in caplog.text and "\n" not in caplog.text.strip()
    latents, timestep, text, mask, codes = dit_inputs()
    with torch.no_grad():
        before = shipped(latents, timestep, text, mask).sample
        assert torch.equal(model(latents, timestep, text, mask).sample, before)  # no sound given
        dropped = model(latents, timestep, text, mask, audio_codes=codes, audio_mask=torch.tensor([False, False])).sample
        assert torch.allclose(dropped, before, atol=1e-6)  # sound given and dropped (guidance's branch)
        heard = model(latents, timestep, text, mask, audio_codes=codes).sample
    if audio_attention == "separate":  # its own branch starts at zero: the sound changes nothing yet...
        assert torch.equal(heard, before)
        model.train()
        model(latents, timestep, text, mask, audio_codes=codes).sample.square().mean().backward()
        # ...but it learns: the zero output projection gets a gradient at the first step
        assert model.blocks[0].audio_attention.to_out.weight.grad.abs().sum() > 0
    else:  # the joint context: sound tokens beside the text change the text's attention at once
        assert not torch.allclose(heard, before)


def test_an_lm_given_audio_codes_keeps_the_video_rows_and_grows_the_vocabulary(tmp_path, caplog):
    torch.manual_seed(0)
    shipped = VideoLanguageModel(**LM).eval()
    weights = saved(shipped, tmp_path)
    model = VideoLanguageModel(**LM, **AUDIO).eval()
    fresh_audio_rows = model.embed_tokens.weight[shipped.vocabulary.size:].clone()
    with caplog.at_level("INFO", logger="genvid.training"):
        grown = load_matching_weights(model, weights, "shipped")
    old, new = shipped.vocabulary.size, model.vocabulary.size
    assert new == old + 16 and sorted(grown) == ["embed_tokens.weight", "lm_head.weight"]
    assert f"embed_tokens.weight rows {old} -> {new}" in caplog.text
    assert torch.equal(model.embed_tokens.weight[old:], fresh_audio_rows)  # the new rows keep their initialisation
    ids = torch.randint(shipped.vocabulary.video_start, shipped.vocabulary.video_end, (2, 12), generator=torch.Generator().manual_seed(1))
    text = torch.randn(2, 4, 16)
    ids[:, 1:5] = TEXT  # the text positions of the prefix
    with torch.no_grad():
        before = shipped(ids, text, prefix_length=6)
        after = model(ids, text, prefix_length=6)
    assert after.shape[-1] == new and torch.equal(after[..., :old], before)


def test_any_other_difference_from_the_saved_weights_is_one_line_error(tmp_path):
    torch.manual_seed(0)
    weights = saved(VideoDiffusionTransformer(**DIT), tmp_path)
    state = load_file(str(weights))

    def refused(model, tensors, expected):
        path = tmp_path / "other.safetensors"
        save_file(tensors, str(path))
        with pytest.raises(GenvidError, match=expected) as error:
            load_matching_weights(model, path, "given")
        assert "\n" not in str(error.value)

    sound = dict(DIT, **AUDIO, audio_attention="separate")
    refused(VideoDiffusionTransformer(**sound), {**state, "extra.weight": torch.zeros(2)},
            r"1 weights the model does not have \(e.g. extra.weight\)")
    refused(VideoDiffusionTransformer(**dict(sound, num_layers=3)), state, r"weights missing \(e.g. blocks.2.")
    refused(VideoDiffusionTransformer(**dict(sound, text_hidden_size=24)), state, r"shape of text_embedding.0.weight")
    # a vocabulary table may grow, never shrink, and no other table grows
    lm_weights = saved(VideoLanguageModel(**LM, **AUDIO), tmp_path)
    lm_state = load_file(str(lm_weights))
    refused(VideoLanguageModel(**LM), lm_state, r"shape of embed_tokens.weight: \(64, 32\) saved vs \(48, 32\) here")
    refused(VideoLanguageModel(**LM, **AUDIO, intermediate_size=192), lm_state, "shape of layers.0.mlp")


def load_train_demo():
    spec = importlib.util.spec_from_file_location("train_demo", Path(__file__).parent.parent / "scripts" / "train_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sound_stage_installs_fine_tunes_with_their_codec_and_every_sound_path_generates(tmp_path, monkeypatch):
    from tokenizer import AudioCodec

    from genvid.cli import main
    from genvid.data import read_video
    from genvid.data.audio_io import has_audio, read_audio
    from genvid.data.config import DataConfig
    from genvid.training.tasks.dit import DiffusionOptions, DiffusionTask
    from genvid.training.tasks.lm import LanguageModelOptions, LanguageModelTask

    codec_folder = save_tiny_audio_codec(tmp_path / "audio_codec")
    tokenizer = TINY_SOUND_TOKENIZER
    data = DataConfig(num_frames=5, height=16, width=16, audio_sample_rate=16000)
    common = dict(tokenizer_config=tokenizer, text_max_length=8)
    kinds = {
        "diffusion": (DiffusionTask, DiffusionOptions, dict(in_channels=2, hidden_size=32, num_layers=1, num_heads=2),
                      dict(audio_attention="separate")),
        "ar": (LanguageModelTask, LanguageModelOptions, dict(hidden_size=32, num_layers=1, num_heads=2, max_sequence_length=96),
               {}),
    }
    for name, (task_class, options_class, model, sound_model) in kinds.items():
        shipped = task_class(model, options_class(**common), data)
        shipped.export(shipped.build_model(), tmp_path / "shipped" / name)
        sound = task_class({**model, **sound_model, "num_audio_codebooks": 2}, options_class(
            **common, audio_codec=str(codec_folder), initial_weights=str(tmp_path / "shipped" / name)), data)
        sound.export(sound.build_model(), tmp_path / "trained" / name)
    recipe = load_train_demo()
    monkeypatch.setattr("genvid.eval.far_prompts.demo_captions", lambda: ["a red circle moving left"])
    root = tmp_path / "demo_copy"
    for name in kinds:
        recipe.install(tmp_path / "trained" / name, name, root, audio_codec=codec_folder)
        assert json.loads((root / name / "model_index.json").read_text())["audio_codec"] == ["tokenizer.audio_codec", "AudioCodec"]
        assert (root / name / "audio_codec" / "diffusion_pytorch_model.safetensors").read_bytes() == (
            codec_folder / "diffusion_pytorch_model.safetensors").read_bytes()
    size = ["--num-frames", "5", "--height", "16", "--width", "16"]
    ar, diffusion = ["--pipeline", str(root / "ar")], ["--pipeline", str(root / "diffusion")]
    out = tmp_path / "out"
    assert main(["generate", "a red circle moving left", *ar, *size, "--with-audio", "--output", str(out / "t2va.mp4")]) == 0
    assert read_video(out / "t2va.mp4").shape[1] == 5 and has_audio(out / "t2va.mp4")
    assert main(["generate", *ar, "--task", "v2a", "--video", str(out / "t2va.mp4"), "--output", str(out / "v2a.wav")]) == 0
    assert read_audio(out / "v2a.wav").shape == (10000,)  # 5 frames at 8 fps, 16 kHz
    assert main(["generate", *ar, *size, "--audio", str(out / "v2a.wav"), "--output", str(out / "a2v.mp4")]) == 0
    assert read_video(out / "a2v.mp4").shape[1] == 5
    for prompt in ("a red circle moving left", ""):  # the sound with the text, and alone
        assert main(["generate", prompt, *diffusion, *size, "--steps", "2", "--audio", str(out / "v2a.wav"),
                     "--output", str(out / f"audio{len(prompt)}.mp4")]) == 0
        assert read_video(out / f"audio{len(prompt)}.mp4").shape[1] == 5
    # the diffusion model follows sound but makes none
    assert main(["generate", "a red circle", *diffusion, "--with-audio", "--output", str(out / "x.mp4")]) == 2


def test_the_codec_round_trip_reads_the_true_tones_and_scores_a_lossless_codec_as_them():
    from tokenizer import AudioCodec

    from genvid.eval.audio_round_trip import codec_round_trip

    class Lossless(AudioCodec):  # the tone itself "decoded": the report must equal the ceiling
        def encode(self, waveform, num_codebooks=None):
            return waveform[:, None]

        def decode(self, codes):
            return codes[:, 0]

    combinations = [("red", "circle", "up"), ("blue", "square", "left")]
    sizes = dict(base_channels=4, channel_multipliers=[1, 2, 2, 2], latent_dim=8, num_codebooks=2, codebook_size=8,
                 dilations=[1])
    noisy = codec_round_trip(AudioCodec(**sizes).eval(), combinations, samples_per_combination=1, levels=[1])
    accuracies = ("color", "shape", "motion", "all")
    assert {key: noisy["ground_truth"][key] for key in accuracies} == dict.fromkeys(accuracies, 1.0)
    assert noisy["levels_1"]["snr_db"] < 3  # an untrained codec does not keep the tone
    kept = codec_round_trip(Lossless(**sizes), combinations, samples_per_combination=1, levels=[2])["levels_2"]
    assert {key: kept[key] for key in accuracies} == dict.fromkeys(accuracies, 1.0)
    assert kept["snr_db"] > 100
    assert kept["harmonic_square"] == noisy["ground_truth"]["harmonic_square"] > 0.2
    assert kept["harmonic_circle"] == noisy["ground_truth"]["harmonic_circle"] < 0.06


def test_the_round_trip_shows_a_codec_that_flattens_the_timbre():
    """A codec that keeps pitch and loudness but drops the harmonics (a low-pass at 600 Hz, above the
    red / green fundamentals, below their third harmonics) keeps colour and motion, loses shape, and
    its per-shape third-harmonic ratios say why; the training evaluation reports the same figures."""
    from tokenizer import AudioCodec

    from genvid.eval.audio_round_trip import codec_round_trip
    from genvid.training.evaluation import TrainingEvaluator, evaluation_options

    class LowPass(AudioCodec):
        def encode(self, waveform, num_codebooks=None):
            return waveform[:, None]

        def decode(self, codes):
            spectrum = torch.fft.rfft(codes[:, 0])
            frequencies = torch.fft.rfftfreq(codes.shape[-1], 1 / self.config.sample_rate)
            return torch.fft.irfft(spectrum * (frequencies < 600), n=codes.shape[-1])

    combinations = [("red", "circle", "left"), ("green", "square", "right"), ("red", "triangle", "left")]
    sizes = dict(base_channels=4, channel_multipliers=[1, 2, 2, 2], latent_dim=8, num_codebooks=2, codebook_size=8,
                 dilations=[1])
    report = codec_round_trip(LowPass(**sizes), combinations, samples_per_combination=1, levels=[1])
    flattened = report["levels_1"]
    assert (flattened["color"], flattened["motion"], flattened["shape"]) == (1.0, 1.0, pytest.approx(1 / 3))
    assert report["ground_truth"]["harmonic_triangle"] > 0.08 and report["ground_truth"]["harmonic_square"] > 0.2
    assert max(flattened["harmonic_triangle"], flattened["harmonic_square"]) < 0.02

    class Module(torch.nn.Module):  # what the loop hands the evaluator: the codec's training module
        def __init__(self):
            super().__init__()
            self.codec = AudioCodec(**sizes)

    figures = TrainingEvaluator(evaluation_options({"kind": "audio_codec"}))(None, Module())
    assert {"eval/levels_1/shape", "eval/levels_2/harmonic_square", "eval/levels_2/snr_db"} <= set(figures)
    with pytest.raises(Exception, match="audio codec task"):
        TrainingEvaluator(evaluation_options({"kind": "audio_codec"}))(None, torch.nn.Linear(2, 2))


def test_sound_alone_drops_the_text_and_keeps_the_sound():
    from genvid.data import DataConfig, build_dataset, collate_videos
    from genvid.training.tasks.dit import DiffusionOptions, DiffusionTask

    torch.manual_seed(0)
    data = DataConfig(num_samples=4, num_frames=5, height=16, width=16, audio_sample_rate=16000)
    codec = dict(base_channels=4, channel_multipliers=[1, 2, 2, 2], latent_dim=8, num_codebooks=2, codebook_size=8,
                 dilations=[1])
    tokenizer = dict(latent_channels=4, base_channels=8, channel_multipliers=[1, 2, 2], num_res_blocks=1, num_mid_blocks=1)
    batch = collate_videos([build_dataset(data)[index] for index in range(4)])
    # every sample asks for its first frame clean: a sound-alone sample gets none (a prompt-less
    # audio= call has none to give, and with one the sound would be redundant)
    for alone, expected in ((1.0, {"sound_alone": 1.0, "audio_dropped": 0.0, "text_dropped": 1.0,
                                   "first_frame_given": 0.0, "clean_frame_share": 0.0}),
                            (0.0, {"audio_dropped": 0.0, "text_dropped": 0.0, "first_frame_given": 1.0,
                                   "clean_frame_share": 0.5})):
        task = DiffusionTask(dict(in_channels=4, hidden_size=32, num_layers=1, num_heads=2, text_hidden_size=384),
                             DiffusionOptions(tokenizer_config=tokenizer, audio_codec_config=codec, text_dropout=0.0,
                                              audio_dropout=0.0, audio_alone_probability=alone,
                                              first_frame_probability=1.0), data)
        model = task.build_model()
        task.setup(torch.device("cpu"))
        _, logs = task.training_step(model, batch, 0, torch.Generator().manual_seed(0))
        assert {key: logs[key] for key in expected} == expected and ("sound_alone" in logs) == bool(alone)
    with pytest.raises(Exception, match=r"audio_alone_probability must be in \[0, 1\]"):
        DiffusionTask({}, DiffusionOptions(tokenizer_config=tokenizer, audio_alone_probability=1.5), data)


def test_the_sound_recipe_runs_the_codec_then_each_demo_s_stages_in_order_each_from_the_one_before(tmp_path, monkeypatch):
    recipe = load_train_demo()
    calls = []

    def run_stage(name, config, overrides, output):
        calls.append((name, config.relative_to(recipe.ROOT / "configs").as_posix(), overrides))
        return output / name / "final"

    monkeypatch.setattr(recipe, "run_stage", run_stage)
    assert recipe.main(["--output", str(tmp_path), "--only", "sound", "--lm-sound2-steps", "7", "--retrain-codec"]) == 0
    assert [(name, config) for name, config, _ in calls] == [
        ("audio_codec_harmonic", "audio/demo_codec_harmonic.yaml"), ("dit_sound", "dit/demo_sound.yaml"),
        ("lm_sound", "lm/demo_sound.yaml"), ("lm_sound2", "lm/demo_sound2.yaml")]
    codec = f"task_options.audio_codec={tmp_path / 'audio_codec_harmonic' / 'final'}"
    assert all(codec in overrides for _, _, overrides in calls[1:])
    lm_sound2 = calls[3][2]
    assert f"task_options.initial_weights={tmp_path / 'lm_sound' / 'final'}" in lm_sound2
    assert "training.max_steps=7" in lm_sound2
    assert not any(item.startswith("task_options.initial_weights") for item in calls[1][2] + calls[2][2])


def test_the_sound_recipe_starts_from_the_shipped_codec_unless_told_to_retrain_it(tmp_path, monkeypatch):
    recipe = load_train_demo()
    calls = []

    def run_stage(name, config, overrides, output):
        calls.append((name, overrides))
        return output / name / "final"

    monkeypatch.setattr(recipe, "run_stage", run_stage)
    shipped = tmp_path / "demo"
    monkeypatch.setattr(recipe, "DEMO_ROOT", shipped)
    # none shipped: the codec is trained first, as with --retrain-codec
    assert recipe.main(["--output", str(tmp_path / "runs"), "--only", "sound", "--sound-models", "ar"]) == 0
    assert [name for name, _ in calls] == ["audio_codec_harmonic", "lm_sound", "lm_sound2"]
    calls.clear()
    save_tiny_audio_codec(shipped / "audio_codec")
    assert recipe.main(["--output", str(tmp_path / "runs"), "--only", "sound", "--sound-models", "ar"]) == 0
    assert [name for name, _ in calls] == ["lm_sound", "lm_sound2"]
    assert all(f"task_options.audio_codec={shipped / 'audio_codec'}" in overrides for _, overrides in calls)
    # a retrained codec replaces the installed one (what the next sound stages then start from)
    trained = save_tiny_audio_codec(tmp_path / "trained_codec")
    recipe.install_audio_codec(trained, tmp_path / "install")
    installed = tmp_path / "install" / "audio_codec"
    assert sorted(path.name for path in installed.iterdir()) == sorted(path.name for path in trained.iterdir())
    assert (installed / "diffusion_pytorch_model.safetensors").read_bytes() == (
        trained / "diffusion_pytorch_model.safetensors").read_bytes()
    with pytest.raises(SystemExit, match="no trained audio codec"):
        recipe.install_audio_codec(tmp_path / "nowhere", tmp_path / "install")
