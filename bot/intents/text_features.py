"""Word and character TF-IDF features that serialise to plain arrays (no pickle)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

FloatArray = npt.NDArray[np.float32]


def _vectorizer(kind: str, ngrams: tuple[int, int], min_df: int) -> TfidfVectorizer:
    analyzer = "word" if kind == "word" else "char_wb"
    return TfidfVectorizer(
        analyzer=analyzer,
        ngram_range=ngrams,
        min_df=min_df,
        sublinear_tf=True,
        lowercase=True,
        dtype=np.float32,
    )


class _Block:
    """One fitted TF-IDF block: its analyzer, term index and idf weights."""

    def __init__(
        self, kind: str, ngrams: tuple[int, int], min_df: int, terms: Sequence[str], idf: FloatArray
    ) -> None:
        self.kind = kind
        self.terms = list(terms)
        self.idf = np.asarray(idf, dtype=np.float32)
        self.index = {t: i for i, t in enumerate(self.terms)}
        # The analyzer depends only on the parameters, so a restored block tokenises
        # exactly as the one that was fitted.
        analyzer: Callable[[str], list[str]] = _vectorizer(kind, ngrams, min_df).build_analyzer()
        self.analyze = analyzer

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        indptr = [0]
        cols: list[int] = []
        vals: list[float] = []
        for text in texts:
            counts: dict[int, int] = {}
            for term in self.analyze(text):
                j = self.index.get(term)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            row = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
            w = tf * self.idf[row]
            norm = float(np.sqrt((w * w).sum()))
            cols.extend(row.tolist())
            vals.extend((w / norm if norm > 0 else w).tolist())
            indptr.append(len(cols))
        return sparse.csr_matrix(
            (np.asarray(vals, dtype=np.float32), np.asarray(cols, dtype=np.int64), indptr),
            shape=(len(texts), len(self.terms)),
        )


class TfidfFeatures:
    """Concatenated, separately L2-normalised word and char_wb TF-IDF vectors."""

    def __init__(self, blocks: list[_Block]) -> None:
        self._blocks = blocks

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        *,
        word_ngrams: tuple[int, int],
        char_ngrams: tuple[int, int],
        char_min_df: int,
    ) -> TfidfFeatures:
        """Learn vocabularies and idf weights from ``texts``."""
        blocks = []
        for kind, ngrams, min_df in (("word", word_ngrams, 1), ("char", char_ngrams, char_min_df)):
            vec = _vectorizer(kind, ngrams, min_df)
            try:
                vec.fit(texts)
            except ValueError:
                # Tiny corpora can leave no char n-gram above min_df; keep every n-gram then.
                vec = _vectorizer(kind, ngrams, 1).fit(texts)
                min_df = 1
            vocab: dict[str, int] = vec.vocabulary_
            terms = sorted(vocab, key=vocab.__getitem__)
            blocks.append(_Block(kind, ngrams, min_df, terms, vec.idf_.astype(np.float32)))
        return cls(blocks)

    @property
    def dimension(self) -> int:
        """Number of columns of :meth:`transform`'s output."""
        return sum(len(b.terms) for b in self._blocks)

    def transform_blocks(self, texts: Sequence[str]) -> list[sparse.csr_matrix]:
        """One matrix per block (word, then char), in column order of :meth:`transform`."""
        return [b.transform(texts) for b in self._blocks]

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Vectorise ``texts``; unknown terms are ignored."""
        return sparse.hstack(self.transform_blocks(texts), format="csr")

    def to_arrays(self, prefix: str) -> dict[str, npt.NDArray[np.generic]]:
        """Arrays for :func:`numpy.savez` (strings as unicode arrays, loadable without pickle)."""
        out: dict[str, npt.NDArray[np.generic]] = {}
        for b in self._blocks:
            out[f"{prefix}{b.kind}_terms"] = np.asarray(b.terms, dtype=np.str_)
            out[f"{prefix}{b.kind}_idf"] = b.idf
        return out

    @classmethod
    def from_arrays(
        cls,
        arrays: dict[str, npt.NDArray[np.generic]],
        prefix: str,
        *,
        word_ngrams: tuple[int, int],
        char_ngrams: tuple[int, int],
        char_min_df: int,
    ) -> TfidfFeatures:
        """Rebuild what :meth:`to_arrays` stored."""
        blocks = []
        for kind, ngrams, min_df in (("word", word_ngrams, 1), ("char", char_ngrams, char_min_df)):
            terms = [str(t) for t in arrays[f"{prefix}{kind}_terms"].tolist()]
            idf = np.asarray(arrays[f"{prefix}{kind}_idf"], dtype=np.float32)
            blocks.append(_Block(kind, ngrams, min_df, terms, idf))
        return cls(blocks)
