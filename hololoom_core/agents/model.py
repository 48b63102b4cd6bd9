"""The router's text classifier: TF-IDF over words and character n-grams, logistic regression, temperature.

scikit-learn does the work (imported on first use, never at engine start). Sentence embeddings
(wordllama) can be added as extra columns (`embeddings=True`); bench/router_eval.py measures both, and
TF-IDF alone is the default because it scored better on the held-out split and loads faster. Probabilities are calibrated
by temperature scaling: one temperature, fitted on out-of-fold logits of the training set, divides the
logits before the softmax. Cheap signals (`signals.py`) add a fixed bonus to their agent's logit before
calibration, so the temperature is fitted on what the router really outputs. Domain lexicon counts
(`lexicon.py`) are two more feature columns whose weight per agent the regression learns.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hololoom_core.agents.lexicon import LEXICONS, lexicon_matrix, lexicon_row
from hololoom_core.agents.signals import Signal, find_signals

if TYPE_CHECKING:
    import numpy as np

MODEL_VERSION = "tfidf-word12-char25-lexicon-logreg-temp-v4"
EMBEDDING_WEIGHT = 1.0  # the sentence embedding's columns are scaled by this next to the TF-IDF columns
SIGNAL_BONUS = 1.5  # added to an agent's logit per signal pointing at it
FOLDS = 5


@dataclass(slots=True)
class Prediction:
    """Calibrated probabilities for every agent, the signals seen, and the terms that pushed the top agent."""

    scores: dict[str, float]
    signals: list[Signal]
    terms: list[str]


@dataclass(slots=True)
class TrainingInfo:
    """What a fitted model rests on: examples per agent, corrections used, temperature, fit time."""

    examples: int
    per_agent: dict[str, int]
    corrections: int
    temperature: float
    fit_seconds: float
    digest: str
    version: str = MODEL_VERSION
    held_out: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the overview and `hololoom route --json`."""
        return {"examples": self.examples, "per_agent": dict(self.per_agent), "corrections": self.corrections,
                "temperature": round(self.temperature, 4), "fit_seconds": round(self.fit_seconds, 3),
                "digest": self.digest, "version": self.version, "held_out": dict(self.held_out)}


def _vectorizers() -> tuple[Any, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True, token_pattern=r"(?u)\b\w[\w'.-]*\w\b|\b\w\b")
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=True, min_df=1)
    return word, char


def _classifier() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=20.0, solver="saga", max_iter=500, tol=1e-3, random_state=0)


def _fit_quietly(classifier: Any, features: Any, labels: Any, weights: Any) -> Any:
    """Fit; saga may stop at max_iter before its tolerance on a weighted refit (accuracy is measured on the
    held-out split after every fit, so the warning is not repeated to the operator)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return classifier.fit(features, labels, sample_weight=weights)


def signal_matrix(texts: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """The signal bonus per text and agent (rows: texts, columns: `classes`)."""
    import numpy as np

    bonus = np.zeros((len(texts), len(classes)), dtype=np.float64)
    index = {name: i for i, name in enumerate(classes)}
    for row, text in enumerate(texts):
        for signal in find_signals(text):
            if signal.agent in index:
                bonus[row, index[signal.agent]] += SIGNAL_BONUS
    return bonus


def _softmax(logits: np.ndarray) -> np.ndarray:
    import numpy as np

    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of the labels (bounded to 0.05..20)."""
    import numpy as np
    from scipy.optimize import minimize_scalar

    rows = np.arange(len(labels))

    def nll(temperature: float) -> float:
        probabilities = _softmax(logits / temperature)
        return float(-np.log(np.clip(probabilities[rows, labels], 1e-12, 1.0)).mean())

    result = minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded")
    return float(result.x)


class RouterModel:
    """A fitted classifier: word and char TF-IDF, logistic regression, a temperature; thread-safe to predict."""

    def __init__(self, word: Any, char: Any, classifier: Any, temperature: float, info: TrainingInfo,
                 embeddings: bool = False) -> None:
        self.embeddings = embeddings
        self.word = word
        self.char = char
        self.classifier = classifier
        self.temperature = temperature
        self.info = info
        self.classes: list[str] = [str(c) for c in classifier.classes_]
        self._word_width = len(word.vocabulary_)
        self._terms = word.get_feature_names_out()
        self._prepare_fast_path()

    @classmethod
    def fit(cls, examples: Sequence[tuple[str, str]], *, weights: Sequence[float] | None = None,
            corrections: int = 0, digest: str = "", embeddings: bool = False) -> RouterModel:
        """Fit on (text, agent) pairs; the temperature comes from out-of-fold logits of the same pairs."""
        import numpy as np
        from sklearn.model_selection import StratifiedKFold

        started = time.perf_counter()
        texts = [text for text, _ in examples]
        labels = [agent for _, agent in examples]
        sample_weight = np.asarray(weights if weights is not None else [1.0] * len(texts), dtype=np.float64)
        classes = sorted(set(labels))
        label_index = np.asarray([classes.index(label) for label in labels])
        oof = np.zeros((len(texts), len(classes)))
        embedded = _embed(texts, embeddings)
        folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=7)
        for train_rows, test_rows in folds.split(texts, label_index):
            word, char = _vectorizers()
            train_texts = [texts[i] for i in train_rows]
            x_train = _stack(word.fit_transform(train_texts), char.fit_transform(train_texts),
                             lexicon_matrix(train_texts), None if embedded is None else embedded[train_rows])
            classifier = _fit_quietly(_classifier(), x_train, label_index[train_rows], sample_weight[train_rows])
            test_texts = [texts[i] for i in test_rows]
            x_test = _stack(word.transform(test_texts), char.transform(test_texts), lexicon_matrix(test_texts),
                            None if embedded is None else embedded[test_rows])
            fold_logits = np.zeros((len(test_rows), len(classes)))
            fold_logits[:, classifier.classes_] = classifier.decision_function(x_test)
            oof[test_rows] = fold_logits + signal_matrix(test_texts, classes)
        temperature = fit_temperature(oof, label_index)
        word, char = _vectorizers()
        x_all = _stack(word.fit_transform(texts), char.fit_transform(texts), lexicon_matrix(texts), embedded)
        classifier = _fit_quietly(_classifier(), x_all, np.asarray(labels), sample_weight)
        per_agent = {name: labels.count(name) for name in classes}
        info = TrainingInfo(len(texts), per_agent, corrections, temperature, time.perf_counter() - started, digest)
        return cls(word, char, classifier, temperature, info, embeddings)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated logits (signal bonus added, divided by the temperature), one row per text."""
        features = _stack(self.word.transform(texts), self.char.transform(texts), lexicon_matrix(texts),
                          _embed(texts, self.embeddings))
        raw = self.classifier.decision_function(features) + signal_matrix(texts, self.classes)
        return raw / self.temperature

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, one row per text, columns in `classes` order."""
        return _softmax(self.logits(texts))

    def _prepare_fast_path(self) -> None:
        """Analyzers, vocabularies and weights as plain lookups, so one question avoids sparse-matrix overhead."""
        import numpy as np
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        self._analyzers = (self.word.build_analyzer(), self.char.build_analyzer())
        self._vocabularies = (self.word.vocabulary_, self.char.vocabulary_)
        self._idfs = (self.word.idf_, self.char.idf_)
        coef = np.asarray(self.classifier.coef_, dtype=np.float64)
        self._word_coef = coef[:, : self._word_width]
        lexicon_start = self._word_width + len(self.char.vocabulary_)
        self._char_coef = coef[:, self._word_width: lexicon_start]
        self._lexicon_coef = coef[:, lexicon_start: lexicon_start + len(LEXICONS)]
        self._embedding_coef = coef[:, lexicon_start + len(LEXICONS):] * EMBEDDING_WEIGHT
        self._intercept = np.asarray(self.classifier.intercept_, dtype=np.float64)
        self._stop_words = ENGLISH_STOP_WORDS

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._prepare_fast_path()

    def __getstate__(self) -> dict[str, Any]:
        keep = ("embeddings", "word", "char", "classifier", "temperature", "info", "classes", "_word_width", "_terms")
        return {name: self.__dict__[name] for name in keep}

    def _tfidf(self, part: int, text: str) -> tuple[list[int], Any]:
        """The l2-normalised sublinear TF-IDF of one text in one vectorizer's space: (columns, values)."""
        import numpy as np

        counts: dict[int, int] = {}
        vocabulary = self._vocabularies[part]
        for token in self._analyzers[part](text):
            column = vocabulary.get(token)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        if not counts:
            return [], np.zeros(0)
        columns = list(counts)
        values = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64))) * self._idfs[part][columns]
        return columns, values / np.linalg.norm(values)

    def predict(self, text: str, explain: int = 3) -> Prediction:
        """Probabilities of every agent for one text, its signals and the top terms behind the best agent.

        The same arithmetic as `probabilities` (TF-IDF, embedding, linear scores, signals, temperature),
        done with plain lookups: one question takes well under a millisecond instead of several.
        """
        import numpy as np

        if not hasattr(self, "_analyzers"):
            self._prepare_fast_path()
        word_columns, word_values = self._tfidf(0, text)
        char_columns, char_values = self._tfidf(1, text)
        raw = self._intercept.copy()
        if word_columns:
            raw += self._word_coef[:, word_columns] @ word_values
        if char_columns:
            raw += self._char_coef[:, char_columns] @ char_values
        raw += self._lexicon_coef @ np.asarray(lexicon_row(text))
        embedded = _embed([text], self.embeddings)
        if embedded is not None:
            raw += self._embedding_coef @ embedded[0]
        signals = find_signals(text)
        for signal in signals:
            if signal.agent in self.classes:
                raw[self.classes.index(signal.agent)] += SIGNAL_BONUS
        logits = raw / self.temperature
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        best = int(np.argmax(probabilities))
        terms: list[str] = []
        if explain and word_columns:
            contrast = self._word_coef[best, word_columns] - self._word_coef[:, word_columns].mean(axis=0)
            pushes = sorted(zip(word_values * contrast, word_columns, strict=True), reverse=True)
            for push, column in pushes:
                term = str(self._terms[column])
                if push <= 0 or len(terms) >= explain:
                    break
                if not all(word in self._stop_words for word in term.split()):
                    terms.append(term)
        scores = {name: float(probabilities[i]) for i, name in enumerate(self.classes)}
        return Prediction(scores, signals, terms)


def _stack(word: Any, char: Any, lexicon: Any, embedded: Any = None) -> Any:
    """The model's columns side by side: word TF-IDF, char TF-IDF, lexicon counts, then any embedding."""
    from scipy.sparse import csr_matrix, hstack

    blocks = [word, char, csr_matrix(lexicon)]
    if embedded is not None:
        blocks.append(csr_matrix(embedded * EMBEDDING_WEIGHT))
    return hstack(blocks, format="csr")


_EMBEDDER: list[Any] = []
_EMBEDDER_LOCK = threading.Lock()


def sentence_embedder() -> Any:
    """wordllama (weights in its wheel, offline), loaded once per process; None when it cannot load here."""
    with _EMBEDDER_LOCK:
        if not _EMBEDDER:
            from hololoom_core.memory.embeddings import EmbedderUnavailable, WordLlamaEmbedder

            try:
                _EMBEDDER.append(WordLlamaEmbedder())
            except EmbedderUnavailable:
                _EMBEDDER.append(None)
        return _EMBEDDER[0]


def _embed(texts: Sequence[str], use: bool) -> Any:
    """Sentence embeddings of the texts when the model uses them (else None)."""
    if not use:
        return None
    embedder = sentence_embedder()
    if embedder is None:
        raise RuntimeError("the router model needs wordllama embeddings, which did not load")
    return embedder.embed(list(texts))


def training_digest(base_digest: str, corrections: Sequence[tuple[str, str]], weight: int,
                    embeddings: bool = False) -> str:
    """The hash a cached model is stored under: the labelled set, the corrections, their weight, the version."""
    hasher = hashlib.sha256(f"{MODEL_VERSION}|{base_digest}|{weight}|{embeddings}".encode())
    for text, agent in corrections:
        hasher.update(f"\n{agent}\t{text}".encode())
    return hasher.hexdigest()[:20]


class ModelCache:
    """Fitted models by digest: in this process, and as joblib files in `<data dir>/agents/` across processes."""

    _memory: dict[str, RouterModel] = {}
    _lock = threading.Lock()

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def path(self, digest: str) -> Path | None:
        """Where the model of this digest is stored (None without a directory)."""
        return self.directory / f"router-{digest}.joblib" if self.directory is not None else None

    def get(self, digest: str) -> RouterModel | None:
        """The model of this digest from memory, else from its file (a broken file is ignored)."""
        with self._lock:
            model = self._memory.get(digest)
        path = self.path(digest)
        if model is not None:
            if path is not None and not path.exists():
                self.put(model)  # fitted by another engine of this process: keep a copy for the next process
            return model
        if path is None or not path.exists():
            return None
        try:
            import joblib

            loaded = joblib.load(path)
        except Exception:  # a truncated or foreign file: fit again rather than fail
            return None
        if not isinstance(loaded, RouterModel) or loaded.info.digest != digest:
            return None
        with self._lock:
            self._memory[digest] = loaded
        return loaded

    def put(self, model: RouterModel) -> None:
        """Keep a model in memory and write it (atomically) to its file; old router files are removed."""
        digest = model.info.digest
        with self._lock:
            self._memory[digest] = model
        path = self.path(digest)
        if path is None:
            return
        import joblib

        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        joblib.dump(model, partial)
        partial.replace(path)
        for old in path.parent.glob("router-*.joblib"):
            if old != path:
                old.unlink(missing_ok=True)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width confidence bins by their size."""
    import numpy as np

    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        mask = (confidence > low) & (confidence <= high)
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)


def log_loss_of(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true labels."""
    import numpy as np

    rows = np.arange(len(labels))
    return float(-np.mean(np.log(np.clip(probabilities[rows, labels], 1e-12, 1.0)))) if len(labels) else math.nan
