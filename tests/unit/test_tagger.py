"""F5's tagger (fixtures/tagger.py): the pinned wheel is spaCy's en_core_web_sm 3.8.0 and labels model tokens as
spaCy labels the words they belong to."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from fixtures import tagger
from zoo.build import load_tokenizer


@pytest.fixture(scope="module")
def strings() -> list[str]:
    tok = load_tokenizer()
    return [tok.decode([i], clean_up_tokenization_spaces=False) for i in range(len(tok))]


def _tags(text: str, strings: list[str]) -> list[tuple[str, set[str]]]:
    tok = load_tokenizer()
    ids = [0, *tok.encode(text)]  # 0 is the zoo's start/end-of-text token
    tags = tagger.tag_tokens(np.array([ids]), strings, [0])
    return [
        (strings[i], {n for n, b in zip(tags.names, row, strict=True) if b})
        for i, row in zip(ids, tags.labels, strict=True)
    ]


def test_the_pinned_wheel_is_spacys_english_small_pipeline() -> None:
    with zipfile.ZipFile(tagger.TAGGER_WHEEL.fetch()) as wheel:
        meta = json.loads(wheel.read(tagger.PIPELINE + "meta.json"))
    assert (meta["lang"], meta["version"], meta["author"], meta["license"]) == ("en", "3.8.0", "Explosion", "MIT")
    assert meta["performance"]["tag_acc"] > 0.97


def test_known_sentences_get_their_parts_of_speech_dependencies_and_morphology(strings: list[str]) -> None:
    words = [w.strip() for w, _ in _tags("The cats were not sleeping.", strings)]
    labels = dict(zip(words, (t for _, t in _tags("The cats were not sleeping.", strings)), strict=False))
    assert {"pos_DET", "dep_det"} <= labels["The"]
    assert "pos_AUX" in labels["were"]
    assert {"pos_PART", "dep_neg", "morph_Polarity=Neg"} <= labels["not"]
    assert "pos_PUNCT" in labels["."]


def test_every_piece_of_a_split_word_takes_the_words_labels(strings: list[str]) -> None:
    tagged = _tags("She quickly gave him two old books yesterday.", strings)
    pieces = [(piece, t) for piece, t in tagged if piece.strip() and "pos_ADV" in t]
    assert "".join(p for p, _ in pieces).strip() == "quickly"  # the zoo's BPE cuts it into pieces
    assert len(pieces) > 1
    assert all("dep_advmod" in t for _, t in pieces)


def test_special_tokens_and_whitespace_get_no_label(strings: list[str]) -> None:
    tagged = _tags("One line.\n\nAnother line.", strings)
    assert tagged[0][1] == set()  # the start token
    assert all(t == set() for piece, t in tagged if not piece.strip())
    assert all(t for piece, t in tagged[1:] if piece.strip())
