"""The AR task table: a task defined and registered here alone runs through the pipeline and the
LM training task, and the table's inference and input checks give clear errors."""

import pytest
import torch

from genvid.config import ConfigError
from genvid.errors import GenvidError
from genvid.models.ar_tasks import TASKS, ARTask, TaskExample, TaskInputs, flatten_grid, infer_task, register, unregister
from genvid.models.lm import VideoLanguageModel
from genvid.pipelines.ar import GenVidARPipeline

TOKENIZER_CONFIG = dict(bottleneck="fsq", fsq_levels=[4, 4], base_channels=8, channel_multipliers=[1, 2, 2, 2],
                        num_res_blocks=1, num_mid_blocks=1)


class TextToImage(ARTask):
    """A hypothetical new task: the first latent frame alone (a picture) from the text."""

    name, token = "t2i", 8

    def sized(self, inputs):
        inputs.num_frames = 1
        return inputs

    def example(self, grid, generator=None, audio_ids=None):
        return TaskExample(None, flatten_grid(grid[:, :1]))

    def longest(self, video_tokens, frame_tokens, audio_tokens):
        return frame_tokens


@pytest.fixture
def text_to_image():
    task = register(TextToImage())
    yield task
    unregister(task.name)


def test_a_task_registered_here_samples_through_the_pipeline(text_to_image):
    from tokenizer import VideoTokenizer

    from genvid.text import TextEncoder

    torch.manual_seed(0)
    video_tokenizer = VideoTokenizer(**TOKENIZER_CONFIG).eval()
    text_encoder = TextEncoder(max_length=8)
    model = VideoLanguageModel(codebook_size=video_tokenizer.codebook_size, hidden_size=32, num_layers=2, num_heads=2,
                               text_hidden_size=text_encoder.hidden_size, max_sequence_length=40).eval()
    pipe = GenVidARPipeline(video_tokenizer=video_tokenizer, text_encoder=text_encoder, transformer=model)
    pipe.set_progress_bar_config(disable=True)
    prefixes = []
    forward = model.forward
    model.forward = lambda ids, *args, **kwargs: prefixes.append(ids) or forward(ids, *args, **kwargs)
    ids = pipe("a red circle", task="t2i", num_frames=17, height=16, width=16, output_type="latent",
               generator=torch.Generator().manual_seed(0)).frames
    assert ids.shape == (1, 1, 2, 2)  # one latent frame, whatever num_frames asked
    assert int(prefixes[0][0, 1]) == 16 + 8  # the prefix carries the new task's token
    assert len(prefixes) == 4  # the prefix, then one call per generated token but the last
    frames = pipe("a red circle", task="t2i", height=16, width=16, generator=torch.Generator().manual_seed(0)).frames
    assert frames.shape == (1, 1, 16, 16, 3)
    with pytest.raises(GenvidError, match="video is an input of task"):
        pipe("a red circle", task="t2i", video=torch.zeros(3, 5, 16, 16), height=16, width=16)


def test_a_task_registered_here_trains_in_the_lm_mixture(text_to_image):
    from genvid.data import DataConfig, build_dataset, collate_videos
    from genvid.training.tasks.lm import LanguageModelOptions, LanguageModelTask

    data = DataConfig(source="synthetic", num_samples=2, num_frames=5, height=16, width=16)
    model = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "max_sequence_length": 6 + 8 + 4}
    options = LanguageModelOptions(tokenizer_config=TOKENIZER_CONFIG, text_max_length=8, task_weights={"t2i": 1.0})
    task = LanguageModelTask(dict(model), options, data)
    lm = task.build_model()  # fits: the table says t2i needs one latent frame (4 tokens), not the clip's 8
    task.setup("cpu")
    batch = collate_videos([build_dataset(data)[index] for index in range(2)])
    loss, logs = task.training_step(lm, batch, 0, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss) and task._last_sequence_length == 6 + 8 + 4  # special tokens (<eos> too), text, image
    with pytest.raises(ConfigError, match="needs 22 positions"):
        LanguageModelTask(dict(model), LanguageModelOptions(tokenizer_config=TOKENIZER_CONFIG, text_max_length=8,
                                                            task_weights={"t2v": 1.0}), data).build_model()


def test_registering_needs_a_new_name_and_token():
    with pytest.raises(ValueError, match="new name"):
        register(type("Again", (ARTask,), {"name": "t2v", "token": 30})())
    with pytest.raises(ValueError, match="task token"):
        register(type("Clash", (ARTask,), {"name": "clash", "token": 3})())
    assert "clash" not in TASKS


@pytest.mark.parametrize("given, has_text, expected", [
    ({}, True, "t2v"), ({}, False, "uncond"), ({"image": 1}, True, "i2v"), ({"video": 1}, True, "continue"),
    ({"video": 1, "mask": 1}, True, "inpaint"), ({"audio": 1}, True, "a2v"), ({"audio": 1, "video": 1}, True, "continue"),
])
def test_the_inputs_choose_the_task(given, has_text, expected):
    inputs = TaskInputs(5, 16, 16, **{name: torch.zeros(1) for name in given})
    assert infer_task(inputs, has_text).name == expected


def test_missing_and_unused_inputs_are_one_line_errors():
    with pytest.raises(GenvidError, match="task 'inpaint' needs video and mask"):
        TASKS["inpaint"].check(TaskInputs(5, 16, 16, video=torch.zeros(1)))
    with pytest.raises(GenvidError, match="audio is an input of task a2v, not of 'continue'"):
        TASKS["continue"].check(TaskInputs(5, 16, 16, video=torch.zeros(1), audio=torch.zeros(1)))
