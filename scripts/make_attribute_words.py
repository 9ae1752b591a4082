"""Write genvid/pipelines/attribute_words.tsv, the shape and direction words of prompt reading.

genvid.pipelines.prompt_reading reads a prompt's shape and motion from the training captions' own
words first; this table is what it knows beyond them: which of the synthetic shapes (circle,
square, triangle) and motions (left, right, up, down) an English word or phrase names. It is
derived, by fixed rules and never edited by hand, from Princeton WordNet 3.0 (George A. Miller et
al.; WordNet 3.0 licence: use, copy and distribute freely, with its copyright notice), read from the
database files that Debian's ``wordnet-base`` package installs (``apt-get install wordnet-base``;
``--wordnet DIR`` for another copy). The table is generated once and shipped, so reading needs no
WordNet at run time.

Shapes. Each shape starts from its own WordNet senses (the geometric figure and "something
approximating the shape of ..."). A sense belongs to a shape where it lies on that shape's branch of
the taxonomy: the shape's hypernyms below the first one that another shape shares (the square's
rectangle, parallelogram and quadrilateral; the circle's ellipse), and every hyponym of those
("disk", "rhombus", "wedge" under triangle). Adjectives derived from them and their similar-to
satellites follow ("circular", "round", "spherical", "four-sided"): level 1. Then an adjective, or
a noun of an object or a shape, whose own compound words or definition name the common words of
exactly one shape joins it at level 2: a shape sense with its hyponyms ("round shape": sphere,
globe), an object alone ("ball: round object that is hit ...", "box: a (usually rectangular)
container"). A sense that joined by its definition speaks only for the lemmas it is a common sense
of (one of their first two: "picture" is a square only in its tenth sense). A second round reached
mostly chance words ("airplane", "photo"), so there is one; "coin" (a flat piece, usually a disc:
"flat" is a square's word) and "arrowhead" (a pointed tip) stay unknown.

Directions. Each motion starts from the senses that say it: the verbs "move upward" (rise, lift,
go up), "travel up" (ascend), "move downward" (descend, fall, go down), "fall or descend to a lower
place" (sink, drop); the adverbs and adjectives up, down, left, right, and their similar-to
satellites ("skyward", "left-hand", "port"); the frame's sides (top, bottom); and the compass
directions as on a map (north up, south down, east right, west left). Verb senses bring their
troponyms ("soar", "climb", "plunge", "dive"). Directions join by no definition: "right"
(exactly), "left" (went away) and "up" fill too many of them (a round brought "way", "back",
"moving"). A direction word with the suffix "-ward(s)" says the same direction ("leftwards").

Every word is written in its inflected forms (verbs: -s, -ed, -ing and WordNet's irregular forms;
nouns: the plural); a surface form takes the value of its surest claim (the lowest level, then its
lemma's earliest sense in WordNet's frequency order), and a form that two values claim equally is
left out. One row per form and attribute: ``form<TAB>attribute<TAB>value<TAB>level<TAB>sense``.

    python scripts/make_attribute_words.py [--wordnet /usr/share/wordnet]
"""

from __future__ import annotations

import argparse
import collections
import re
from dataclasses import dataclass, field
from pathlib import Path

OUTPUT = Path(__file__).resolve().parents[1] / "genvid" / "pipelines" / "attribute_words.tsv"
FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}

#: Each value's starting senses: (lemma, part of speech, sense number in WordNet's index order).
SHAPE_SENSES = {
    "circle": [("circle", "n", 1), ("circle", "n", 3)],
    "square": [("square", "n", 1), ("square", "n", 4)],
    "triangle": [("triangle", "n", 1), ("triangle", "n", 2)],
}
MOTION_SENSES = {
    "up": [("rise", "v", 1), ("ascend", "v", 1), ("up", "r", 1), ("up", "a", 1), ("up", "a", 4), ("top", "n", 1),
           ("top", "n", 2), ("north", "n", 3), ("north", "n", 5)],
    "down": [("descend", "v", 1), ("fall", "v", 1), ("sink", "v", 1), ("down", "r", 1), ("down", "a", 1),
             ("down", "a", 2), ("bottom", "n", 1), ("bottom", "n", 2), ("south", "n", 3), ("south", "n", 5)],
    "left": [("left", "r", 1), ("left", "a", 1), ("left", "n", 1), ("west", "n", 2), ("west", "n", 4)],
    "right": [("right", "r", 4), ("right", "a", 1), ("right", "n", 2), ("east", "n", 1), ("east", "n", 4)],
}
#: WordNet pointer symbols.
HYPERNYM, HYPONYM, SIMILAR, DERIVED = ("@", "@i"), ("~", "~i"), ("&",), ("+",)
#: Rounds of joining by definition (see the notes above).
SHAPE_ROUNDS, MOTION_ROUNDS = 1, 0
NAMING_SENSES = 2
#: WordNet's lexicographer file noun.shape: a shape sense that joins brings its hyponyms (round shape: sphere,
#: ball); an object that joins by its definition ("ball: round object ...") comes alone.
SHAPE_FILE = 25
#: The nouns that can take a shape by their definition: noun.artifact, noun.object, noun.shape (not acts,
#: events or quantities: "round trip", "are: 100 square metres").
THING_FILES = (6, 17, 25)


@dataclass
class Synset:
    pos: str
    words: list[str]
    pointers: list[tuple[str, tuple[str, str]]]
    definition: str
    lexicographer_file: int
    satellite: bool  # an adjective satellite ("s"): it is similar to its cluster's head, not the head to it
    senses: list[tuple[str, int]] = field(default_factory=list)  # (lemma, its sense number) in index order


class WordNet:
    """The parts of WordNet's database files this script needs (the format of wndb(5WN))."""

    def __init__(self, root: Path):
        self.synsets: dict[tuple[str, str], Synset] = {}
        self.index: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self.exceptions: dict[str, dict[str, list[str]]] = {pos: collections.defaultdict(list) for pos in FILES}
        for pos, name in FILES.items():
            for line in (root / f"data.{name}").read_text(encoding="latin-1").splitlines():
                if line.startswith("  "):
                    continue
                body, _, gloss = line.partition(" | ")
                parts = body.split()
                count, at = int(parts[3], 16), 4
                words = [re.sub(r"\(.*\)$", "", parts[at + 2 * index]).lower() for index in range(count)]
                at += 2 * count
                pointers = []
                for _ in range(int(parts[at])):
                    symbol, offset, target_pos = parts[at + 1 : at + 4]
                    pointers.append((symbol, ("a" if target_pos == "s" else target_pos, offset)))
                    at += 4
                self.synsets[(pos, parts[0])] = Synset(pos, words, pointers, gloss.split('; "')[0].strip(),
                                                       int(parts[1]), parts[2] == "s")
            for line in (root / f"index.{name}").read_text(encoding="latin-1").splitlines():
                if line.startswith("  "):
                    continue
                parts = line.split()
                keys = [(pos, offset) for offset in parts[4 + int(parts[3]) + 2 :]]
                self.index[(parts[0], pos)] = keys
                for number, key in enumerate(keys, 1):
                    self.synsets[key].senses.append((parts[0], number))
            exceptions = root / f"{name}.exc"
            if exceptions.exists():
                for line in exceptions.read_text(encoding="latin-1").splitlines():
                    form, *lemmas = line.split()
                    for lemma in lemmas:
                        self.exceptions[pos][lemma].append(form)

    def sense(self, lemma: str, pos: str, number: int) -> tuple[str, str]:
        return self.index[(lemma, pos)][number - 1]

    def related(self, key, symbols) -> list[tuple[str, str]]:
        return [target for symbol, target in self.synsets[key].pointers if symbol in symbols]

    def closure(self, keys, symbols) -> set:
        seen, todo = set(keys), list(keys)
        while todo:
            for target in self.related(todo.pop(), symbols):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    def satellites(self, keys) -> set:
        """``keys`` and, for each head adjective among them, its similar-to satellites ("round": "spherical");
        a satellite does not bring its head ("trilateral" is similar to "multilateral", not to "four-sided")."""
        return set(keys) | {target for key in keys if not self.synsets[key].satellite
                            for target in self.related(key, SIMILAR)}

    def lemma(self, word: str) -> str:
        """The noun or adjective a word of a definition is ("squares" -> "square")."""
        if (word, "n") in self.index or (word, "a") in self.index:
            return word
        for suffix, ending in (("ies", "y"), ("es", ""), ("s", "")):
            if word.endswith(suffix) and (word[: -len(suffix)] + ending, "n") in self.index:
                return word[: -len(suffix)] + ending
        return word

    def first_sense(self, word: str, pos: str):
        keys = self.index.get((word, pos))
        return keys[0] if keys else None


def named_words(wordnet: WordNet, levels: dict) -> dict[str, set[str]]:
    """Per value, the one-word lemmas whose first sense that names a value names this one and is among
    their first ``NAMING_SENSES``: the words that say the value ("disc", whose first sense is a record
    and second the round shape), not those that only a rare sense gives it ("head", "piece")."""
    value_of = {key: value for value, keys in levels.items() for key in keys}
    first: dict[str, tuple] = {}
    for key, value in value_of.items():
        for lemma, number in wordnet.synsets[key].senses:
            if "_" not in lemma and (lemma not in first or number < first[lemma][0]):
                first[lemma] = (number, value)
    words = {value: set() for value in levels}
    for lemma, (number, value) in first.items():
        if number <= NAMING_SENSES:
            words[value].add(lemma)
    return words


def definition_words(wordnet: WordNet, key) -> set[str]:
    """A sense's own compound parts ("round" of "round_shape") and its definition's words (as lemmas)."""
    synset = wordnet.synsets[key]
    own = {part for word in synset.words if "_" in word or "-" in word for part in re.split(r"[_-]", word)}
    text = re.findall(r"[a-z]+(?:-[a-z]+)*", synset.definition.lower())
    return own | {wordnet.lemma(word) for word in text if len(word) > 2}


def spread(wordnet: WordNet, levels: dict, candidates, grow, rounds: int) -> set:
    """``rounds`` times: a candidate sense whose words name exactly one value's words joins it (and
    what ``grow`` brings with it) at the next level. Returns the senses that joined by their own words."""
    defined = set()
    for level in range(2, 2 + rounds):
        words = named_words(wordnet, levels)
        taken = set().union(*levels.values())
        joined = collections.defaultdict(set)
        for key in candidates:
            if key in taken:
                continue
            found = definition_words(wordnet, key)
            named = [value for value, known in words.items() if found & known]
            if len(named) == 1:
                joined[named[0]] |= grow(key)
                defined.add(key)
        for value, keys in joined.items():
            for key in keys - taken:
                levels[value][key] = level
    return defined


def shape_levels(wordnet: WordNet) -> tuple[dict[str, dict], set]:
    starts = {value: [wordnet.sense(*sense) for sense in senses] for value, senses in SHAPE_SENSES.items()}
    chains = {value: wordnet.closure(keys, HYPERNYM) for value, keys in starts.items()}
    shared = {key for key, count in collections.Counter(key for chain in chains.values() for key in chain).items()
              if count > 1}
    levels = {}
    for value, keys in starts.items():
        own = set(keys)
        todo = list(keys)
        while todo:  # up the taxonomy until a hypernym another shape shares
            for parent in wordnet.related(todo.pop(), HYPERNYM):
                if parent not in shared and parent not in own:
                    own.add(parent)
                    todo.append(parent)
        own = wordnet.closure(own, HYPONYM) - shared
        adjectives = {target for key in own for target in wordnet.related(key, DERIVED) if target[0] == "a"}
        own |= wordnet.satellites(adjectives)
        levels[value] = dict.fromkeys(own, 1)
    drop_conflicts(levels)
    candidates = [key for key, synset in wordnet.synsets.items()
                  if key[0] == "a" or synset.lexicographer_file in THING_FILES]
    defined = spread(wordnet, levels, candidates, lambda key: wordnet.closure([key], HYPONYM)
           if wordnet.synsets[key].lexicographer_file == SHAPE_FILE else {key}, SHAPE_ROUNDS)
    drop_conflicts(levels)
    return levels, defined


def motion_levels(wordnet: WordNet) -> tuple[dict[str, dict], set]:
    levels = {}
    for value, senses in MOTION_SENSES.items():
        keys = {wordnet.sense(*sense) for sense in senses}
        own = wordnet.closure({key for key in keys if key[0] == "v"}, HYPONYM) | keys
        own |= wordnet.satellites({key for key in own if key[0] == "a"})
        levels[value] = dict.fromkeys(own, 1)
    drop_conflicts(levels)
    candidates = [key for key in wordnet.synsets if key[0] in ("a", "r")]
    defined = spread(wordnet, levels, candidates, lambda key: {key}, MOTION_ROUNDS)
    drop_conflicts(levels)
    return levels, defined


def drop_conflicts(levels: dict) -> None:
    counts = collections.Counter(key for keys in levels.values() for key in keys)
    for keys in levels.values():
        for key in [key for key in keys if counts[key] > 1]:
            del keys[key]


def verb_forms(wordnet: WordNet, verb: str) -> set[str]:
    """A verb's forms: -s, -ing, -ed by the regular spelling rules, and WordNet's irregular forms."""
    forms = {verb, *wordnet.exceptions["v"].get(verb, [])}
    doubled = re.fullmatch(r"[^aeiou]*[aeiou][^aeiouwxy]", verb)  # one syllable, consonant-vowel-consonant
    if re.search(r"(s|x|z|ch|sh)$", verb):
        forms.add(verb + "es")
    elif re.search(r"[^aeiou]y$", verb):
        forms |= {verb[:-1] + "ies", verb[:-1] + "ied"}
    else:
        forms.add(verb + "s")
    if verb.endswith("ie"):
        forms.add(verb[:-2] + "ying")
    elif verb.endswith("e") and not re.search(r"[eoy]e$", verb):
        forms.add(verb[:-1] + "ing")
    else:
        forms.add((verb + verb[-1] if doubled else verb) + "ing")
    if verb.endswith("e"):
        forms.add(verb + "d")
    elif not re.search(r"[^aeiou]y$", verb):
        forms.add((verb + verb[-1] if doubled else verb) + "ed")
    return forms


def noun_forms(wordnet: WordNet, noun: str) -> set[str]:
    forms = {noun, *wordnet.exceptions["n"].get(noun, [])}
    if re.search(r"(s|x|z|ch|sh)$", noun):
        forms.add(noun + "es")
    elif re.search(r"[^aeiou]y$", noun):
        forms.add(noun[:-1] + "ies")
    else:
        forms.add(noun + "s")
    return forms


def forms_of(wordnet: WordNet, lemma: str, pos: str) -> set[str]:
    """Surface forms of a (possibly multi-word) lemma: verbs inflect their first word, nouns their last."""
    words = lemma.split("_")
    if len(words[0 if pos == "v" else -1]) < 3:  # "ha" would give "has"; "up" is only "up"
        return {" ".join(words)}
    if pos == "v":
        return {" ".join([form, *words[1:]]) for form in verb_forms(wordnet, words[0])}
    if pos == "n":
        return {" ".join([*words[:-1], form]) for form in noun_forms(wordnet, words[-1])}
    return {" ".join(words)}


def table_rows(wordnet: WordNet, attribute: str, levels: dict, defined: set) -> list[tuple]:
    """One row per surface form: the value of its surest claim. A sense that joined by its own
    definition claims only for the lemmas it is a common sense of (one of their first
    ``NAMING_SENSES``: "picture" is a square only in its tenth); one that came with a shape sense by
    the taxonomy claims for all ("sphere", the round shape, is its lemma's fifth sense)."""
    value_of = {key: (value, level) for value, keys in levels.items() for key, level in keys.items()}
    claims = collections.defaultdict(list)  # form -> [(rank, level, value, sense)]
    for key, (value, level) in value_of.items():
        for lemma, number in wordnet.synsets[key].senses:
            if not re.fullmatch(r"[a-z]{2,}(?:[-_][a-z]+)*", lemma) or (key in defined and number > NAMING_SENSES):
                continue  # one letter ("w" for west) is no word
            for form in forms_of(wordnet, lemma, key[0]):
                claims[form].append((number, level, value, f"{lemma}.{key[0]}.{number:02d}"))
    if attribute == "motions":
        for value, keys in levels.items():
            for key in keys:
                for lemma, number in wordnet.synsets[key].senses:
                    if re.fullmatch(r"[a-z]+", lemma) and lemma == value and key[0] in ("r", "a"):
                        for suffix in ("ward", "wards"):
                            claims[lemma + suffix].append((number, levels[value][key] + 1, value,
                                                           f"{lemma}.{key[0]}.{number:02d}+{suffix}"))
    rows = []
    for form, found in claims.items():
        best = min(found, key=lambda claim: (claim[1], claim[0], claim[3]))  # the sense name only orders ties
        rivals = {value for rank, level, value, _ in found if (level, rank) == (best[1], best[0])}
        if len(rivals) == 1:
            rows.append((form, attribute, best[2], best[1], best[3]))
    return rows


HEADER = """\
# Shape and direction words for genvid.pipelines.prompt_reading, generated by
# scripts/make_attribute_words.py from Princeton WordNet 3.0 (WordNet 3.0 Copyright 2006 by Princeton
# University; use, copy, modify and distribute freely under the WordNet 3.0 licence). Not edited by hand.
# form<TAB>attribute<TAB>value<TAB>level<TAB>sense
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wordnet", default="/usr/share/wordnet", help="WordNet 3.0's dict folder (data.noun ...)")
    parser.add_argument("--output", default=str(OUTPUT))
    args = parser.parse_args(argv)
    root = Path(args.wordnet)
    if not (root / "data.noun").exists():
        raise SystemExit(f"no WordNet database in {root} (apt-get install wordnet-base, or pass --wordnet DIR)")
    wordnet = WordNet(root)
    rows = table_rows(wordnet, "shapes", *shape_levels(wordnet)) + table_rows(wordnet, "motions", *motion_levels(wordnet))
    rows.sort()
    Path(args.output).write_text(HEADER + "".join("\t".join(map(str, row)) + "\n" for row in rows))
    counts = collections.Counter((row[1], row[2]) for row in rows)
    print(f"{args.output}: {len(rows)} forms; " + ", ".join(f"{value} {count}" for (_, value), count in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
