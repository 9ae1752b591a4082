"""Sound: what the generators with an audio codec make of the synthetic set's soundtracks, and the
sound they make (the measuring part of ``genvid eval sound``).

The synthetic soundtrack of a clip (genvid.data.synthetic.render_audio) names its colour by pitch,
its shape by timbre and its motion by a glide or a fade. Each task runs on true clips of a split's
combinations (genvid.eval.references: seeds no training clip uses), each with the soundtrack of
its own seed, as the training set pairs them, at the codec's sample rate and video fps:

* ``v2a`` (AR): the true clip -> a generated sound -> the audio analyzer (genvid.eval.audio_analyzer);
* ``a2v`` (AR): the true sound alone -> a generated video -> the video analyzer (genvid.eval.analyzer);
* ``audio`` (diffusion): the true sound alone (an empty prompt), and the sound with the clip's
  caption -> a generated video -> the video analyzer;
* ``with_audio`` (AR): the caption -> a video, then its v2a sound (genvid.pipelines.ar.with_soundtrack,
  what ``genvid generate --with-audio`` writes) -> the video analyzer on the picture, the audio
  analyzer on the sound; the picture and the sound *agree* on an attribute when both read it as the
  caption says ("all three": every attribute of both);
* ``reference``: the audio analyzer on the true sounds and on their codec round trip at the levels
  the generator reads or writes, the video analyzer on the true clips: the ceilings of the rows above.

Every row gives per-attribute accuracy and "all three" (every attribute right) over its clips.
Captions are the training grammar's (genvid.eval.prompts_eval.prompt_for, canonical wording).
Clips go through the pipeline ``batch_size`` at a time, each batch sampled from a generator seeded
``seed + its first index``: the same seed and batch size, the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from genvid.data.synthetic import NEW_COLOR_WORDS, render_audio
from genvid.errors import GenvidError
from genvid.eval.analyzer import analyze_clip
from genvid.eval.audio_analyzer import analyze_audio
from genvid.eval.prompts_eval import prompt_for
from genvid.eval.references import references
from genvid.pipelines.common import frames_to_video

#: every task, in the table's order, and the pipeline kind it runs on (None: either)
TASKS: dict[str, str | None] = {"v2a": "ar", "a2v": "ar", "audio": "diffusion", "with_audio": "ar", "reference": None}
ATTRIBUTES = ("color", "shape", "motion")


@dataclass
class TrueClips:
    """The true clips of one split: labels ``(color, shape, motion)`` as the analyzers read them,
    captions, clips ``(N, 3, T, H, W)`` in [-1, 1] and soundtracks ``(N, samples)``."""

    labels: list[tuple[str, str, str]]
    prompts: list[str]
    clips: torch.Tensor
    sounds: torch.Tensor


def true_clips(split: str, codec, samples_per_combination: int = 1, seed: int = 0, num_frames: int = 17,
               height: int = 64, width: int = 64, combinations: int | None = None) -> TrueClips:
    """``samples_per_combination`` true clips of every combination of ``split`` (or of its first
    ``combinations``), with soundtracks at ``codec``'s sample rate and video fps."""
    items = references(split, samples_per_combination, seed, combinations)
    if not items:
        raise GenvidError(f"the split {split!r} has no combinations to evaluate")
    rate, fps = codec.config.sample_rate, codec.config.video_fps
    return TrueClips(
        labels=[(NEW_COLOR_WORDS.get(item.label[0], item.label[0]), *item.label[1:]) for item in items],
        prompts=[prompt_for(item.label, index % samples_per_combination) for index, item in enumerate(items)],
        clips=torch.stack([item.clip(num_frames, height, width) for item in items]),
        sounds=torch.stack([render_audio(*item.label, num_frames, fps, rate, item.seed) for item in items]),
    )


def sound_readings(waveforms, sample_rate: int) -> list[tuple]:
    """``(color, shape, motion)`` the audio analyzer reads from each waveform (None: too quiet)."""
    readings = (analyze_audio(waveform, sample_rate) for waveform in waveforms)
    return [(reading.color, reading.shape, reading.motion) for reading in readings]


def video_readings(clips) -> list[tuple]:
    """``(color, shape, motion)`` the video analyzer reads from each ``(3, T, H, W)`` clip."""
    return [tuple(analyze_clip(clip)[name] for name in ATTRIBUTES) for clip in clips]


def matches(readings, labels) -> list[tuple[bool, bool, bool]]:
    return [tuple(found == wanted for found, wanted in zip(reading, label)) for reading, label in zip(readings, labels)]


def accuracies(hits) -> dict:
    """``color_accuracy``, ``shape_accuracy``, ``motion_accuracy``, ``all_accuracy`` and
    ``num_clips`` of per-clip ``(color, shape, motion)`` hits (the keys of
    genvid.eval.analyzer.evaluate_prompt_following)."""
    total = len(hits)
    row = {f"{name}_accuracy": sum(hit[index] for hit in hits) / total for index, name in enumerate(ATTRIBUTES)}
    return row | {"all_accuracy": sum(all(hit) for hit in hits) / total, "num_clips": total}


def pipeline_kind(pipeline) -> str:
    """"ar" for an AR pipeline (its transformer has a vocabulary), else "diffusion"."""
    return "ar" if hasattr(pipeline.transformer, "vocabulary") else "diffusion"


def audio_levels(pipeline) -> int:
    """How many codec levels the pipeline's transformer reads or writes; a one-line error when the
    pipeline has no audio codec or its transformer was trained without sound."""
    codec = getattr(pipeline, "audio_codec", None)
    transformer = pipeline.transformer
    levels = (transformer.vocabulary.num_audio_codebooks if hasattr(transformer, "vocabulary")
              else transformer.config.get("num_audio_codebooks", 0))
    if codec is None or not levels:
        raise GenvidError("the pipeline has no audio codec or its transformer was trained without sound; "
                          "the sound evaluation needs a pipeline trained with audio")
    return int(levels)


def batched(count: int, batch_size: int, seed: int, make, description: str) -> list:
    """``make(start, end, generator)`` over ``[0, count)`` in batches, one generator per batch
    seeded ``seed + start``; the items it returns, in order."""
    items: list = []
    for start in tqdm(range(0, count, batch_size), desc=description, leave=False):
        end = min(start + batch_size, count)
        items.extend(make(start, end, torch.Generator().manual_seed(seed + start)))
    return items


def codec_round_trip(codec, sounds: torch.Tensor, levels: int, num_frames: int, batch_size: int) -> list[torch.Tensor]:
    """The sounds encoded at ``levels`` and decoded, fitted to ``num_frames`` video frames as the
    pipelines fit them, cut to their own length."""
    decoded = []
    for chunk in sounds.split(batch_size):
        waveform = codec.fit_to_frames(chunk.to(codec.device, codec.dtype), codec.frames_for_video(num_frames))
        sound = codec.decode(codec.encode(waveform, num_codebooks=levels)).float().clamp(-1, 1).cpu()
        decoded.extend(sound[:, : chunk.shape[-1]])
    return decoded


@dataclass
class SoundRun:
    """One task's run on one split: the pipeline, the true clips, and how to call the pipeline."""

    pipeline: object
    truth: TrueClips
    seed: int
    batch_size: int
    size: dict
    options: dict

    @property
    def sample_rate(self) -> int:
        return self.pipeline.audio_codec.config.sample_rate

    def generate(self, make, description: str) -> list:
        """:func:`batched` over the true clips: ``make(start, end, generator)``."""
        return batched(len(self.truth.labels), self.batch_size, self.seed, make, description)

    def heard(self, waveforms) -> list:
        return matches(sound_readings(waveforms, self.sample_rate), self.truth.labels)

    def seen(self, clips) -> list:
        return matches(video_readings(clips), self.truth.labels)


# Each task: run -> [(what is read, analyzer, per-clip hits)].

def reference_rows(run: SoundRun) -> list:
    levels = audio_levels(run.pipeline)
    decoded = codec_round_trip(run.pipeline.audio_codec, run.truth.sounds, levels, run.size["num_frames"], run.batch_size)
    return [("true sound", "audio", run.heard(run.truth.sounds)),
            (f"true sound through the codec ({levels} levels)", "audio", run.heard(decoded)),
            ("true clip", "video", run.seen(run.truth.clips))]


def v2a_rows(run: SoundRun) -> list:
    sounds = run.generate(lambda start, end, generator: run.pipeline(
        video=run.truth.clips[start:end], task="v2a", generator=generator, output_type="pt", **run.options).audio, "v2a")
    return [("sound for the true clip", "audio", run.heard(sounds))]


def a2v_rows(run: SoundRun) -> list:
    clips = run.generate(lambda start, end, generator: frames_to_video(run.pipeline(
        audio=run.truth.sounds[start:end], task="a2v", generator=generator, output_type="pt", **run.size,
        **run.options).frames), "a2v")
    return [("video for the true sound", "video", run.seen(clips))]


def audio_rows(run: SoundRun) -> list:
    rows = []
    for what, prompts in (("video for the true sound alone", [""] * len(run.truth.labels)),
                          ("video for the true sound and its caption", run.truth.prompts)):
        clips = run.generate(lambda start, end, generator: frames_to_video(run.pipeline(
            prompt=prompts[start:end], audio=run.truth.sounds[start:end], generator=generator, output_type="pt",
            **run.size, **run.options).frames), "audio")
        rows.append((what, "video", run.seen(clips)))
    return rows


def with_audio_rows(run: SoundRun) -> list:
    from genvid.pipelines.ar import with_soundtrack

    def make(start, end, generator):
        result = run.pipeline(prompt=run.truth.prompts[start:end], generator=generator, output_type="pt", **run.size,
                              **run.options)
        result = with_soundtrack(run.pipeline, result, generator, **run.options)
        return zip(frames_to_video(result.frames), result.audio)

    made = run.generate(make, "with audio")
    picture, sound = run.seen([clip for clip, _ in made]), run.heard([waveform for _, waveform in made])
    agree = [tuple(seen and heard for seen, heard in zip(*pair)) for pair in zip(picture, sound)]
    return [("picture for the caption", "video", picture), ("its v2a sound", "audio", sound),
            ("picture and sound agree", "both", agree)]


ROWS = {"v2a": v2a_rows, "a2v": a2v_rows, "audio": audio_rows, "with_audio": with_audio_rows, "reference": reference_rows}


@torch.no_grad()
def evaluate_sound(pipeline, tasks=tuple(TASKS), splits=("seen", "heldout"), samples_per_combination: int = 1,
                   seed: int = 0, num_frames: int = 17, height: int = 64, width: int = 64, batch_size: int = 8,
                   combinations: int | None = None, **call_options) -> list[dict]:
    """One row per (task, what is read, split): ``task``, ``split``, ``what``, ``analyzer``
    ("audio", "video" or "both") and :func:`accuracies`. Tasks for the other kind of pipeline are
    left out (v2a / a2v / with_audio need an AR pipeline, audio a diffusion one); ``call_options``
    go to every pipeline call (guidance_scale, num_inference_steps, temperature, top_k, ...)."""
    audio_levels(pipeline)  # its one-line error before anything is rendered or generated
    kind = pipeline_kind(pipeline)
    size = dict(num_frames=num_frames, height=height, width=width)
    truths = {split: true_clips(split, pipeline.audio_codec, samples_per_combination, seed, num_frames, height, width,
                                combinations) for split in splits}
    rows = []
    for task in tasks:
        if task not in TASKS:
            raise ValueError(f"unknown sound task {task!r}; expected one of {', '.join(TASKS)}")
        if TASKS[task] not in (None, kind):
            continue
        for split in splits:
            run = SoundRun(pipeline, truths[split], seed, batch_size, size, call_options)
            rows.extend({"task": task, "split": split, "what": what, "analyzer": analyzer, **accuracies(hits)}
                        for what, analyzer, hits in ROWS[task](run))
    return rows


def row_name(row: dict) -> str:
    """A row's name in ``genvid eval prompts``' table: "heldout / v2a: sound for the true clip"."""
    return f"{row['split']} / {row['task']}: {row['what']}"


FIGURES = ("num_clips", "color_accuracy", "shape_accuracy", "motion_accuracy", "all_accuracy")


def prompts_rows(rows: list[dict]) -> dict[str, dict]:
    """The rows keyed by :func:`row_name`, with only the figures ``genvid eval prompts`` tabulates."""
    return {row_name(row): {name: row[name] for name in FIGURES} for row in rows}


def format_table(reports: dict[str, list[dict]]) -> str:
    """Markdown table of ``{model: rows}``."""
    lines = ["| model | task | split | what is read | analyzer | clips | color | shape | motion | all three |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for model, rows in reports.items():
        for row in rows:
            lines.append(
                f"| {model} | {row['task']} | {row['split']} | {row['what']} | {row['analyzer']} | {row['num_clips']} | "
                + " | ".join(f"{row[f'{name}_accuracy']:.1%}" for name in (*ATTRIBUTES, "all")) + " |"
            )
    return "\n".join(lines)
