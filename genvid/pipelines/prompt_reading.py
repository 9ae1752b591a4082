"""Reading a prompt in new words as the caption that means the same (issue 21, item 2).

The demo generators follow the captions' own words and miss synonyms ("a sphere soaring"), although
their text encoder knows what some of those words mean. A pipeline folder may hold
``caption_words.safetensors``: for each attribute the captions name (colours, shapes, motions),
the text encoder's state of each value's word inside the canonical captions ("circle" in "a red
circle moving left"). A prompt that is not itself close to a training caption (the nearest
sentence-embedding cosine in ``known_captions.safetensors`` is below ``keep_similarity``) is read
token by token: every attribute takes the value whose word state is nearest to one of the
prompt's tokens, and the generator is conditioned on the canonical caption of what was read
("a red circle moving up"). A prompt close to the captions (every canonical and training-grammar
caption) is encoded as it is, so it gives the same clip as without reading.

Per attribute, how a token is compared with the value states was chosen on the development
wording set (genvid.eval.dev_wordings, measured by genvid.eval.reading), never on the held-out one:

- ``centred``: the states minus their mean, a token scored by its projection on each value's
  direction from that mean (what the values differ in). Shapes and motions read best this way.
- plain cosine to each value's state: colours (MiniLM keeps little of a colour word's hue; the
  centred rule let a few colour directions win every prompt).

Each attribute is read from the surest source that has it: a word or phrase of the training
captions' own grammars (``caption_phrases``: "ball" is a circle, "travels leftward" left), then,
for colours, a colour-name table (genvid.pipelines.colour_words: the XKCD survey's and the CSS4
names, nearest in CIELAB to the colours the model draws, stored here as ``colour_values``), then
the token states above. The tokens of the colour's name take no part in reading the shape and
motion (on the development set: shape 78.1% -> 80.2%). A prompt close to the captions is still
read where it names a colour no caption uses: "a bluish ball that slides right" is near the
training captions, but the generator never saw "bluish".
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import torch
import torch.nn.functional as F

from genvid.errors import GenvidError
from genvid.folder_files import FolderFile

logger = logging.getLogger(__name__)

FILE_NAME = "caption_words.safetensors"
#: Measured with genvid.eval.reading on the demos' MiniLM: every canonical caption and fresh draw of
#: the rich training grammar is >= 0.88 from its nearest stored caption, every prompt of the
#: development wording set <= 0.68; the round value between them.
DEFAULT_KEEP_SIMILARITY = 0.8
#: The canonical caption a reading is written as (genvid.data.synthetic.caption_for, template 0).
DEFAULT_TEMPLATE = "a {colours} {shapes} moving {motions}"
#: Per attribute: compare centred states (True) or plain cosine (False); chosen on the development set.
DEFAULT_CENTRED = {"colours": False, "shapes": True, "motions": True}
#: The attribute a colour-name table reads (genvid.pipelines.colour_words).
COLOUR_ATTRIBUTE = "colours"


def _token_ids(text_encoder, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """``input_ids`` and ``attention_mask`` as the text encoder's ``encode`` makes them (either
    genvid text encoder: transformers' or the command line's own BERT)."""
    max_length = text_encoder.config.max_length
    model_max_length = getattr(text_encoder.tokenizer, "model_max_length", 0)
    if model_max_length and model_max_length < max_length:
        max_length = model_max_length
    return text_encoder.tokens(prompts, max_length)


def _token_states(text_encoder, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unit-length token states ``(B, L, D)``, a mask of the prompts' own tokens (the special tokens,
    those the empty prompt is made of, and padding off), the token ids ``(B, L)`` and the special ids."""
    hidden_states, mask = text_encoder.encode(prompts)
    input_ids, _ = _token_ids(text_encoder, prompts)
    if input_ids.shape != mask.shape:
        raise GenvidError("prompt reading: the tokenizer's output does not line up with the text encoder's")
    special_ids = _token_ids(text_encoder, [""])[0]
    own = mask.cpu() & ~torch.isin(input_ids, special_ids)
    return F.normalize(hidden_states.float().cpu(), dim=-1), own, input_ids, special_ids


def word_state(text_encoder, caption: str, word: str) -> torch.Tensor:
    """The mean unit state of ``word``'s tokens inside ``caption`` (whole word; ``(D,)``): the
    tokens that the caption up to the word's end has and the caption up to its start has not."""
    match = re.search(r"(?<![A-Za-z])" + re.escape(word) + r"(?![A-Za-z])", caption)
    if match is None:
        raise GenvidError(f"prompt reading: {word!r} is not a whole word of {caption!r}")
    before = _token_ids(text_encoder, [caption[: match.start()].rstrip()])[0][0].tolist()
    through = _token_ids(text_encoder, [caption[: match.end()]])[0][0].tolist()
    if len(through) <= len(before):  # both cut at the text encoder's length: the word is not in it
        raise GenvidError(f"prompt reading: {word!r} in {caption!r} lies past the text encoder's "
                          f"{len(through)} tokens")
    start = next(index for index, (old, new) in enumerate(zip(before + [None], through)) if old != new)
    states = _token_states(text_encoder, [caption])[0]
    return states[0, start : start + len(through) - len(before)].mean(0)


def synthetic_word_examples() -> dict[str, dict[str, list[tuple[str, str]]]]:
    """``{attribute: {value: [(caption, word)]}}``: every basic caption of every combination of
    genvid.data.synthetic that names the value by its own word ("left" in "moving left", not in
    "travels leftward")."""
    from genvid.data.synthetic import ALL_COMBINATIONS, NUM_TEMPLATES, caption_for
    from genvid.known_prompts import synthetic_vocabulary

    names = list(synthetic_vocabulary())
    examples: dict[str, dict[str, list]] = {name: {} for name in names}
    for combination in ALL_COMBINATIONS:
        for template in range(NUM_TEMPLATES):
            caption = caption_for(*combination, template=template)
            for name, value in zip(names, combination):
                if re.search(r"(?<![a-z])" + value + r"(?![a-z])", caption):
                    examples[name].setdefault(value, []).append((caption, value))
    return examples


def synthetic_colour_values(names) -> dict[str, list[int]]:
    """The sRGB each of ``names`` is drawn in by genvid.data.synthetic (names it has not: left out)."""
    from genvid.data.synthetic import COLORS

    return {name: list(COLORS[name]) for name in names if name in COLORS}


def synthetic_caption_phrases() -> dict[str, dict[str, str]]:
    """``{attribute: {phrase: value}}``: every word or phrase of the training caption grammars
    (genvid.data.captions: the basic grammar's names and the rich grammar's synonyms)."""
    from genvid.data.captions import COLOR_WORDS, MOTION_PHRASES, SHAPE_WORDS

    tables = {"colours": COLOR_WORDS, "shapes": SHAPE_WORDS, "motions": MOTION_PHRASES}
    return {name: {phrase: value for value, phrases in table.items() for phrase in phrases}
            for name, table in tables.items()}


def _first_phrase(phrases: dict[str, str], prompt: str) -> str | None:
    """The first of ``phrases`` (whole words; the longest where several start together) in ``prompt``."""
    text = prompt.lower()
    found = [(match.start(), -len(phrase), phrase) for phrase in phrases
             for match in [re.search(r"(?<![a-z])" + re.escape(phrase) + r"(?![a-z])", text)] if match]
    return min(found)[2] if found else None


def _words_of(colour) -> frozenset[str]:
    """The words of a colour found by ``PromptReader._named_colour`` (None: none)."""
    from genvid.pipelines.attribute_words import prompt_words

    return frozenset(prompt_words(colour[1])) if colour else frozenset()


def write_caption_words(folder, text_encoder, examples: dict[str, dict[str, list[tuple[str, str]]]],
                        template: str = DEFAULT_TEMPLATE, keep_similarity: float = DEFAULT_KEEP_SIMILARITY,
                        centred: dict[str, bool] | None = None, colour_values: dict | None = None,
                        caption_phrases: dict | None = None) -> Path:
    """Store each value's mean word state (from ``examples``, see :func:`synthetic_word_examples`)
    and the reading's settings in a pipeline folder. ``colour_values``: the sRGB the model draws each
    colour in; ``caption_phrases``: the words its training captions use for each value (defaults: the
    synthetic set's)."""
    centred = dict(DEFAULT_CENTRED if centred is None else centred)
    if colour_values is None:
        colour_values = synthetic_colour_values(examples.get(COLOUR_ATTRIBUTE, {}))
    if caption_phrases is None:
        caption_phrases = {name: phrases for name, phrases in synthetic_caption_phrases().items() if name in examples}
    tensors, vocabulary = {}, {}
    for name, values in examples.items():
        vocabulary[name] = list(values)
        tensors[name] = torch.stack([
            F.normalize(torch.stack([word_state(text_encoder, caption, word) for caption, word in pairs]).mean(0), dim=0)
            for pairs in values.values()
        ])
    centred = {name: bool(centred.get(name, False)) for name in vocabulary}
    return PromptReader(tensors, vocabulary, template, keep_similarity, centred, colour_values=colour_values,
                        caption_phrases=caption_phrases).save(folder)


class PromptReader(FolderFile):
    """:meth:`read` prompts as canonical captions; built by :meth:`from_folder` (None where a folder has
    no ``caption_words.safetensors``)."""

    file_name = FILE_NAME

    def __init__(self, states: dict[str, torch.Tensor], vocabulary: dict[str, list[str]], template: str,
                 keep_similarity: float, centred: dict[str, bool], known=None, colour_values: dict | None = None,
                 caption_phrases: dict | None = None):
        from genvid.pipelines.attribute_words import AttributeWords
        from genvid.pipelines.colour_words import ColourWords

        self.states = {name: tensor.float() for name, tensor in states.items()}
        self.vocabulary = vocabulary
        self.template = template
        self.keep_similarity = keep_similarity
        self.centred = centred
        #: genvid.known_prompts.KnownCaptions: what decides that a prompt is close enough to keep
        self.known = known
        #: the sRGB of each colour as the model draws it (a colour without one: the table's value of its name)
        self.colour_values = dict(colour_values or {})
        #: {attribute: {phrase: value}}: the words the training captions use (a close prompt naming a
        #: colour none of them is, is read all the same)
        self.caption_phrases = dict(caption_phrases or {})
        colours = vocabulary.get(COLOUR_ATTRIBUTE)
        self.colour_words = None if colours is None else ColourWords(
            {name: self.colour_values.get(name) for name in colours})
        #: the shape and direction words of WordNet (genvid.pipelines.attribute_words), after the captions'
        self.attribute_words = AttributeWords({name: values for name, values in vocabulary.items()
                                               if name != COLOUR_ATTRIBUTE})

    @classmethod
    def from_stored(cls, folder, states, metadata) -> "PromptReader":
        from genvid.known_prompts import KnownCaptions

        return cls(states, json.loads(metadata["vocabulary"]), metadata["template"],
                   float(metadata["keep_similarity"]), json.loads(metadata["centred"]), KnownCaptions.from_folder(folder),
                   json.loads(metadata.get("colour_values", "{}")), json.loads(metadata.get("caption_phrases", "{}")))

    def stored(self):
        return self.states, {
            "vocabulary": json.dumps(self.vocabulary), "template": self.template,
            "keep_similarity": repr(float(self.keep_similarity)), "centred": json.dumps(self.centred),
            "colour_values": json.dumps(self.colour_values),
            "caption_phrases": json.dumps(self.caption_phrases)}

    def save(self, folder) -> Path:
        """Write this reader's file (and the known captions it keeps prompts by) into ``folder``."""
        path = super().save(folder)
        if self.known is not None:
            self.known.save(folder)
        return path

    def kept(self, text_encoder, prompts: list[str]) -> list[bool]:
        """Whether each prompt is close enough to a training caption to be encoded as it is (and names
        no colour the captions never use)."""
        if self.known is None:
            return [False] * len(prompts)
        from genvid.known_prompts import sentence_embeddings

        similarity = (sentence_embeddings(text_encoder, prompts) @ self.known.embeddings.T).max(dim=1).values
        return [bool(value >= self.keep_similarity) and not self._names_new_words(prompt)
                for prompt, value in zip(prompts, similarity)]

    def _names_new_words(self, prompt: str) -> bool:
        """Whether the prompt says an attribute in words of the tables and in none of the captions' (the
        generator never saw "bluish" or "orb", however near the rest of the prompt is to a caption)."""
        colour = self._named_colour(prompt)
        skip = _words_of(colour)
        for name in self.vocabulary:
            phrases = self.caption_phrases.get(name)
            if not phrases or _first_phrase(phrases, prompt) is not None:
                continue
            if name == COLOUR_ATTRIBUTE:
                if colour:
                    return True
                continue
            found = self.attribute_words.find(prompt, name, skip)
            # a word the captions use in other phrases ("right" of "moving right") is no new word
            if found and not set(found[1].split()) <= {word for phrase in phrases for word in phrase.split()}:
                return True
        return False

    def attributes(self, text_encoder, prompts: list[str]) -> list[dict[str, str]]:
        """What each prompt asks for, one value per attribute, whatever its nearness."""
        states, own, input_ids, special_ids = _token_states(text_encoder, prompts)
        colours = [self._named_colour(prompt) for prompt in prompts]
        not_colour = own & ~self._colour_tokens(text_encoder, input_ids, special_ids,
                                                [found and found[1] for found in colours])
        readings = [{} for _ in prompts]
        for name, values in self.vocabulary.items():
            references = self.states[name]
            if self.centred.get(name):
                centre = references.mean(0)
                scores = torch.einsum("bld,vd->blv", states - centre, F.normalize(references - centre, dim=-1))
            else:
                scores = torch.einsum("bld,vd->blv", states, references)
            scores = scores.masked_fill(~(own if name == COLOUR_ATTRIBUTE else not_colour)[..., None], float("-inf"))
            for reading, index, prompt, colour in zip(readings, scores.amax(dim=1).argmax(dim=1).tolist(), prompts,
                                                      colours):
                named = colour and colour[0] if name == COLOUR_ATTRIBUTE else self._named(name, prompt, colour)
                reading[name] = named or values[index]
        return readings

    def _named(self, name: str, prompt: str, colour) -> str | None:
        """The value a prompt names in the captions' words, else in WordNet's (the colour's words left
        out: "orange" is no shape), or None: the token states decide."""
        phrases = self.caption_phrases.get(name, {})
        phrase = _first_phrase(phrases, prompt)
        if phrase is not None:
            return phrases[phrase]
        found = self.attribute_words.find(prompt, name, _words_of(colour))
        return None if found is None else found[0]

    def _named_colour(self, prompt: str) -> tuple[str, str] | None:
        """``(colour, words)``: the colour a prompt names in the captions' words, else in the table's,
        and the words that name it in either ("light blue": "blue light blue"); None where it names none."""
        phrases = self.caption_phrases.get(COLOUR_ATTRIBUTE, {})
        phrase = _first_phrase(phrases, prompt)
        found = None if self.colour_words is None else self.colour_words.find(prompt)
        if phrase is None and found is None:
            return None
        words = " ".join(words for words in (phrase, found and found[1]) if words)
        return (phrases[phrase] if phrase is not None else self.colour_words.colour(found[0])), words

    @staticmethod
    def _colour_tokens(text_encoder, input_ids: torch.Tensor, special_ids: torch.Tensor, names: list) -> torch.Tensor:
        """``(B, L)``: which of the prompts' tokens ``input_ids`` belong to each one's colour name (``names``:
        its words or None)."""
        mask = torch.zeros(input_ids.shape, dtype=torch.bool)
        for row, words in enumerate(names):
            if words:
                ids = _token_ids(text_encoder, [words])[0][0]
                mask[row] = torch.isin(input_ids[row], ids[~torch.isin(ids, special_ids)])
        return mask

    def caption(self, attributes: dict[str, str]) -> str:
        from genvid.data.captions import fix_articles

        return fix_articles(self.template.format(**attributes))

    def read(self, text_encoder, prompts: list[str]) -> list[str | None]:
        """Per prompt: the canonical caption it is read as, or None where it is kept as it is (close
        to the training captions, or empty: the unconditional prompt)."""
        result: list[str | None] = [None] * len(prompts)
        todo = [index for index, prompt in enumerate(prompts) if prompt.strip()]
        if not todo:
            return result
        kept = self.kept(text_encoder, [prompts[index] for index in todo])
        todo = [index for index, keep in zip(todo, kept) if not keep]
        if todo:
            for index, attributes in zip(todo, self.attributes(text_encoder, [prompts[index] for index in todo])):
                result[index] = self.caption(attributes)
        return result


def reading_line(prompt: str, caption: str) -> str:
    """The one line that says what a prompt was read as."""
    return (f'note: this prompt is not in the captions\' words; it was read as "{caption}" (its words matched '
            f"to the captions' by the text encoder; --no-read-prompt turns this off)")


def read_prompts(pipeline, prompts: list[str]) -> list[str]:
    """``prompts`` with each one the pipeline's reader reads replaced by its caption (logged)."""
    reader = getattr(pipeline, "prompt_reader", None)
    if reader is None:
        return prompts
    readings = reader.read(pipeline.text_encoder, prompts)
    for prompt, caption in zip(prompts, readings):
        if caption is not None:
            logger.info(reading_line(prompt, caption))
    return [prompt if caption is None else caption for prompt, caption in zip(prompts, readings)]
