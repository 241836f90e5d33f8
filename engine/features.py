"""Binary per-position features for variance-reduction labelling (the paper's F0, Eq. 4) and position statistics.

The paper labels a neuron by the feature that explains most of its variance, over hundreds of boolean features of
the current token: string predicates of the token (`vocab_df`: starts with a space, capitalised, is a year, ...),
*unigram* features (the token's lower-cased, stripped string equals s) and the same features of the *previous*
token. This module builds those labels from token ids and the tokenizer's string for every vocabulary id, as plain
numpy, so that the claims (claims/papers/universal_neurons/family_*.py) and their tests share one definition.

Choices, and why (each differs from or scales the authors' explain.py):

* Features are functions of a vocabulary id, built once per vocabulary ([vocab, features]) and looked up per
  position. Special ids (BOS/EOS/pad) carry no feature.
* Positions holding a special id, and column 0 of every context (the start token), are dropped from the labels.
  The paper's VR included BOS; our contexts are short (128 tokens), so BOS would be ~1 % of the positions with an
  activation unlike any other token's, and it is not text. Newline positions **stay in**: they are text, the
  paper's VR kept them, and a newline neuron is an interpretable neuron. (The universality correlations drop them;
  that is a different statistic.)
* Unigram rule. The paper keeps s when it occurs > 3000 times in 10M tokens (a rate of 3e-4) and > 3 vocabulary ids
  map to it ("on", " on", "On", " On"). We keep the rate, as a count on the sample — at least
  ceil(UNIGRAM_RATE x positions) and never fewer than UNIGRAM_MIN_COUNT — and ask for >= 2 ids, because a small
  BPE vocabulary (4096 for the zoo) seldom holds four case and space variants of a word. Single letters are not
  unigram features: they are the alphabet features `letter_<c>` (F2), kept for every letter whatever its count.
* Previous-token versions shift the current-token labels by one position *within* a context; position 0 has no
  previous token, and a special previous token (BOS, or the EOS that separates documents) has no features, so both
  are False.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

UNIGRAM_RATE = 3e-4  # the paper's 3000 occurrences per 10M tokens
UNIGRAM_MIN_COUNT = 10  # below this a feature rests on too few positions for a variance
UNIGRAM_MIN_IDS = 2  # the paper's "> 3 ids", scaled to a small vocabulary
LETTERS = string.ascii_lowercase
PREV = "prev_"

KIND_TOKEN = "token"  # a string predicate of the token (is_year, contains_comma, start_w_c, ...)
KIND_LETTER = "letter"  # the stripped, lower-cased token is one letter c (the paper's `c_unigram`)
KIND_UNIGRAM = "unigram"  # the stripped, lower-cased token is s (the paper's `<s>_unigram`)
CURRENT_KINDS = (KIND_TOKEN, KIND_LETTER, KIND_UNIGRAM)
PREV_KINDS = tuple(PREV + k for k in CURRENT_KINDS)

_YEAR = re.compile(r"1[0-9]{3}|20[0-9]{2}")
_PUNCT = set(string.punctuation)


def _letters(s: str) -> str:
    return "".join(ch for ch in s if ch.isalpha())


TOKEN_PREDICATES: dict[str, Callable[[str], bool]] = {
    "starts_w_space": lambda s: s[:1] == " ",
    "is_capitalised": lambda s: s.strip()[:1].isupper(),
    "all_caps": lambda s: len(_letters(s)) >= 2 and _letters(s).isupper(),
    "is_alpha": lambda s: s.strip().isalpha(),
    "is_digit": lambda s: s.strip().isdigit(),
    "contains_digit": lambda s: any(ch.isdigit() for ch in s),
    "is_year": lambda s: _YEAR.fullmatch(s.strip()) is not None,
    "contains_punct": lambda s: any(ch in _PUNCT for ch in s),
    "contains_comma": lambda s: "," in s,
    "contains_period": lambda s: "." in s,
    "contains_paren": lambda s: "(" in s or ")" in s,
    "is_newline": lambda s: "\n" in s and not s.strip(),
}


@dataclass(frozen=True)
class VocabFeatures:
    """Boolean features of every vocabulary id.

    Attributes:
        names: feature names (`is_year`, `start_w_c`, `letter_c`, `unigram_the`, ...).
        kinds: KIND_TOKEN, KIND_LETTER or KIND_UNIGRAM per feature.
        table: [vocab, features] bool; rows of special ids are all False.
        unigram_min_count: the count a unigram needed in this sample (the scaled rule, module docstring).
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    table: np.ndarray
    unigram_min_count: int


@dataclass(frozen=True)
class PositionFeatures:
    """Per-position labels of the kept positions, current token then previous token.

    Attributes:
        names: feature names; previous-token features carry the `prev_` prefix.
        kinds: the kind of each feature; previous-token kinds carry the `prev_` prefix.
        labels: [kept positions, features] bool, positions in row-major context order.
        keep: [contexts * context_length] bool, True where a position is kept (the rows of `labels`).
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    labels: np.ndarray
    keep: np.ndarray

    def columns(self, kinds: Sequence[str]) -> np.ndarray:
        """Indices of the features of the given kinds."""
        return np.flatnonzero(np.isin(np.asarray(self.kinds), list(kinds)))


def normalise(token: str) -> str:
    """The unigram key of a token string: stripped and lower-cased (the paper's rule)."""
    return token.strip().lower()


def kept_positions(tokens: np.ndarray, special_ids: Sequence[int]) -> np.ndarray:
    """[contexts, ctx_len] bool: False at special ids and at column 0 (the start token), True elsewhere."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 2:
        raise ValueError(f"tokens must be [contexts, context_length], got shape {tokens.shape}")
    keep = ~np.isin(tokens, np.asarray(list(special_ids), dtype=tokens.dtype))
    keep[:, 0] = False
    return keep


def token_counts(tokens: np.ndarray, keep: np.ndarray, vocab_size: int) -> np.ndarray:
    """Occurrences of every vocabulary id among the kept positions."""
    return np.bincount(np.asarray(tokens)[np.asarray(keep, dtype=bool)].reshape(-1), minlength=vocab_size)


def unigram_min_count(n_positions: int) -> int:
    """The count a unigram needs in a sample of `n_positions` kept positions (the paper's rate, floored)."""
    return max(UNIGRAM_MIN_COUNT, math.ceil(UNIGRAM_RATE * n_positions))


def unigram_groups(
    vocab: Sequence[str],
    counts: np.ndarray,
    min_count: int,
    min_ids: int = UNIGRAM_MIN_IDS,
    special_ids: Sequence[int] = (),
) -> dict[str, np.ndarray]:
    """Unigram features: normalised string -> the vocabulary ids that map to it.

    A string s is kept when the ids mapping to it occur >= `min_count` times together and there are >= `min_ids`
    of them. Empty strings (whitespace tokens) and single letters (the alphabet features) are never unigrams.

    Args:
        vocab: the string of every vocabulary id.
        counts: [vocab] occurrences in the sample (`token_counts`).
        min_count: fewest occurrences of s.
        min_ids: fewest vocabulary ids mapping to s.
        special_ids: ids that are never part of a group.

    Returns:
        s -> sorted ids, in sorted order of s.
    """
    counts = np.asarray(counts)
    if len(counts) < len(vocab):
        raise ValueError(f"counts cover {len(counts)} ids, the vocabulary has {len(vocab)}")
    special = set(special_ids)
    groups: dict[str, list[int]] = {}
    for i, token in enumerate(vocab):
        key = normalise(token)
        if i in special or not key or (len(key) == 1 and key in LETTERS):
            continue
        groups.setdefault(key, []).append(i)
    return {
        s: np.asarray(ids, dtype=np.int64)
        for s, ids in sorted(groups.items())
        if len(ids) >= min_ids and int(counts[ids].sum()) >= min_count
    }


def vocab_features(
    vocab: Sequence[str],
    counts: np.ndarray,
    special_ids: Sequence[int],
    min_count: int,
    min_ids: int = UNIGRAM_MIN_IDS,
) -> VocabFeatures:
    """Every current-token feature of every vocabulary id: predicates, `start_w_<c>`, `letter_<c>`, unigrams.

    Args:
        vocab: the string of every vocabulary id (the tokenizer's decoding of that id alone).
        counts: [vocab] occurrences in the sample (decides the unigram features).
        special_ids: BOS/EOS/pad ids; they carry no feature.
        min_count: fewest occurrences of a unigram (`unigram_groups`).
        min_ids: fewest vocabulary ids of a unigram (`unigram_groups`).

    Returns:
        The features; names are unique and in a fixed order (predicates, start letters, letters, unigrams).
    """
    n = len(vocab)
    special = np.zeros(n, dtype=bool)
    special[[i for i in special_ids if 0 <= i < n]] = True
    columns: list[np.ndarray] = []
    names: list[str] = []
    kinds: list[str] = []
    for name, predicate in TOKEN_PREDICATES.items():
        columns.append(np.fromiter((predicate(s) for s in vocab), dtype=bool, count=n))
        names.append(name)
        kinds.append(KIND_TOKEN)
    keys = [normalise(s) for s in vocab]
    for c in LETTERS:
        columns.append(np.fromiter((k[:1] == c for k in keys), dtype=bool, count=n))
        names.append(f"start_w_{c}")
        kinds.append(KIND_TOKEN)
    for c in LETTERS:
        columns.append(np.fromiter((k == c for k in keys), dtype=bool, count=n))
        names.append(f"letter_{c}")
        kinds.append(KIND_LETTER)
    for s, ids in unigram_groups(vocab, counts, min_count, min_ids, special_ids).items():
        column = np.zeros(n, dtype=bool)
        column[ids] = True
        columns.append(column)
        names.append(f"unigram_{s}")
        kinds.append(KIND_UNIGRAM)
    table = np.stack(columns, axis=1)
    table[special] = False
    return VocabFeatures(tuple(names), tuple(kinds), table, min_count)


def previous(current: np.ndarray) -> np.ndarray:
    """Shift per-position labels [contexts, ctx_len, ...] by one within each context; position 0 becomes False."""
    current = np.asarray(current)
    out = np.zeros_like(current)
    out[:, 1:] = current[:, :-1]
    return out


def position_features(tokens: np.ndarray, vocab: VocabFeatures, keep: np.ndarray) -> PositionFeatures:
    """Current- and previous-token labels of the kept positions.

    Args:
        tokens: [contexts, ctx_len] ids.
        vocab: the vocabulary's features (`vocab_features`).
        keep: [contexts, ctx_len] bool (`kept_positions`).

    Returns:
        Labels [kept positions, 2 x features]: the current-token features, then their `prev_` versions.
    """
    tokens = np.asarray(tokens)
    keep = np.asarray(keep, dtype=bool)
    if keep.shape != tokens.shape:
        raise ValueError(f"keep {keep.shape} and tokens {tokens.shape} differ")
    current = vocab.table[tokens]  # [C, T, F]
    both = np.concatenate([current, previous(current)], axis=2)
    flat_keep = keep.reshape(-1)
    labels = both.reshape(-1, both.shape[2])[flat_keep]
    names = vocab.names + tuple(PREV + n for n in vocab.names)
    kinds = vocab.kinds + tuple(PREV + k for k in vocab.kinds)
    return PositionFeatures(names, kinds, np.ascontiguousarray(labels), flat_keep)


# --- position (F4) -------------------------------------------------------------------------------------------


def position_mutual_information(firing: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Binary mutual information (nats) between "the neuron fires" and the position in the context.

    MI = Σ_pos w_pos [p_pos log(p_pos / p) + (1 − p_pos) log((1 − p_pos) / (1 − p))], with p_pos the firing rate
    at a position, p the overall rate and w_pos the share of kept positions at that position (the paper's 1/T when
    nothing is dropped). This is I(firing; position) under the empirical joint distribution.

    Args:
        firing: [contexts, ctx_len, neurons] bool.
        keep: [contexts, ctx_len] bool, positions that count.

    Returns:
        [neurons] float64 (0 for a neuron that never or always fires).
    """
    firing = np.asarray(firing, dtype=bool)
    keep = np.asarray(keep, dtype=bool)
    n_pos: np.ndarray = np.asarray(keep.sum(0), dtype=np.float64)  # [T]
    if firing.ndim != 3 or firing.shape[:2] != keep.shape:
        raise ValueError(f"firing must be [contexts, ctx_len, neurons] matching keep {keep.shape}; got {firing.shape}")
    fired: np.ndarray = np.asarray(
        np.sum(firing & keep[:, :, None], axis=0, dtype=np.int64), dtype=np.float64
    )  # [T, K]
    return _mi_from_counts(fired, n_pos)


def _mi_from_counts(fired: np.ndarray, n_pos: np.ndarray) -> np.ndarray:
    total = n_pos.sum()
    used = n_pos > 0
    fired, n_pos = fired[used], n_pos[used]
    p = fired.sum(0) / total  # [K]
    p_pos = fired / n_pos[:, None]  # [T, K]
    w = (n_pos / total)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p_pos > 0, p_pos * np.log(p_pos / p), 0.0)
        b = np.where(p_pos < 1, (1 - p_pos) * np.log((1 - p_pos) / (1 - p)), 0.0)
    mi = (w * (a + b)).sum(0)
    return np.where((p > 0) & (p < 1), mi, 0.0)


def shuffled_position_mi(firing: np.ndarray, keep: np.ndarray, n_perm: int, seed: int) -> np.ndarray:
    """The position-shuffled null of `position_mutual_information`.

    Each permutation shuffles the positions of every context independently (one shuffle of the data, shared by all
    neurons), carrying each position's keep flag with it, so every context keeps its firing pattern's content and
    loses only its order.

    Returns:
        [n_perm, neurons] float64.
    """
    firing = np.asarray(firing, dtype=bool)
    keep = np.asarray(keep, dtype=bool)
    rng = np.random.default_rng(seed)
    out = np.empty((n_perm, firing.shape[2]))
    for k in range(n_perm):
        order = np.argsort(rng.random(keep.shape), axis=1)
        out[k] = position_mutual_information(
            np.take_along_axis(firing, order[:, :, None], axis=1), np.take_along_axis(keep, order, axis=1)
        )
    return out
