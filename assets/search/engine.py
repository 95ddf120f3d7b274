"""The search engine: BM25 keyword search, dense (embedding) search and their fusion (no Dagster).

``SearchIndex.build(corpus, embedder)`` indexes a corpus frame (see :mod:`assets.search.corpus`):

* keyword: BM25 (``bm25s``, Lucene variant) over the Spanish-normalised, stemmed tokens of title + body + examples;
  each query stem also meets the vocabulary stems of its word family (``tortillería`` -> ``tortillas``; see
  :func:`assets.search.text.stems_meet`), which count ``expand_weight`` of an exact match;
* dense: one unit vector per document text (lower-cased title + body: the USE encoder is case-sensitive and register
  answers are often written in capitals) and one per example description; a document's dense score is the best
  cosine over its vectors (a maximum, so one scale for every document: never above 1, and a class with 200 example
  vectors does not outscore a fact with one because it has more of them). The vector index (``auto``) is exact
  numpy up to ``exact_max_vectors`` vectors; above, ``binary``: the sign bits of every vector (64 bytes for 512
  dimensions) pick the ``rescore`` nearest vectors by Hamming distance and their documents are scored exactly from
  all their vectors (a 100k x 512 float32 product streams 200 MB per query, 50-90 ms on two shared cores; the bits
  are 6 MB), and DuckDB ``vss`` HNSW above ``binary_max_vectors``;
* hybrid: ``weighted`` = ``alpha * z(bm25) + (1 - alpha) * z(dense)``, or ``rrf`` = reciprocal rank fusion
  ``sum 1 / (rrf_k + rank)`` over each retriever's top ``depth``. The z-scores (``norm="top"``) are taken against
  each retriever's own top ``z_top`` scores: how far a document stands above the candidates of its retriever. Over
  the whole corpus (``norm="corpus"``, the earlier rule) BM25's scores are zero for nearly every document, so a
  document sharing one word with the query had a z of 20-140 against 5-25 for dense's best, and whenever any word
  matched, dense could not lift a document into the top 10 (on two sets of colloquial activity queries the top-N
  rule raised MRR@10 from 0.796 / 0.655 to 0.804 / 0.717; the dev set 0.970 -> 0.968). Below the ``z_top``-th score
  a retriever's z-score is floored: every document there is equally not its candidate.

The everyday names of a class stay words of its document (BM25 and its one text vector), not vectors of their own:
one vector per name, counted like the document's own text, made dense worse on the check set (activity success@3
with query understanding 0.867 -> 0.633, topics 0.800 -> 0.400: a two-word name is close to any short query), and
"name: title" vectors moved hybrid by a query either way on the two dev sets (MRR@10 0.961 -> 0.970, 0.896 -> 0.901,
check topics 0.933 -> 0.800).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

import numpy as np
import polars as pl

from assets.search.everyday import base_words
from assets.search.text import (SOUND_MIN_LETTERS, STOPWORDS, SURFACE, VocabExpander, analyse, singular,
                               surface_terms, tokens)

MODES = ("bm25", "dense", "hybrid")
VECTOR_INDEXES = ("auto", "exact", "binary", "hnsw")
FUSIONS = ("weighted", "rrf")
NORMS = ("top", "corpus")
MAX_QUERY_CHARS = 2000
MAX_K = 100
HNSW_STATS_SAMPLE = 1024   # documents scored exactly per query for the dense z-score of an approximate index


class SearchError(ValueError):
    """Bad search input (empty query, unknown mode, k out of range): the message says which."""


_WORD = re.compile(r"[^\W\d_]+")   # a run of letters (accented ones included)


@dataclass(frozen=True)
class IndexConfig:
    """How the index scores. Defaults were tuned on a development split (see ``fmlake search evaluate``)."""

    fusion: str = "weighted"
    alpha: float = 0.6          # weight of BM25 in the weighted fusion (chosen on the site dev set)
    norm: str = "top"           # weighted fusion's z-scores: against each retriever's top ``z_top`` | the corpus
    z_top: int = 100            # norm="top": how many of each retriever's best scores set its mean and spread
    rrf_k: int = 60
    depth: int = 100            # candidates per retriever for RRF and for the HNSW index
    expand_weight: float = 0.6  # BM25 weight of a query stem's word-family expansions (0 = exact stems only)
    surface_weight: float = 0.5  # BM25 weight of a query word met as written (text.surface_terms), beside its stem
    example_discount: float = 0.2  # subtracted from an example vector's cosine (the document's own text counts more)
    example_top: int = 1        # a document's example score: the mean of its example_top best example cosines
    example_prior: float = 0.0  # hybrid: + this x z(log(1 + examples)), a class-frequency prior (register coding)
    k1: float = 1.2
    b: float = 0.75
    exact_max_vectors: int = 20_000       # auto: exact numpy up to this many vectors, then binary
    binary_max_vectors: int = 2_000_000   # auto: binary codes up to this many vectors, then HNSW
    rescore: int = 2000         # binary: nearest vectors by Hamming distance scored exactly (at least 4 x depth)
    vector_index: str = "auto"  # auto | exact | binary | hnsw
    embed_batch_size: int = 64
    # everyday-word equivalences not applied to queries (``assets.search.everyday.equivalence_keys``): only the
    # leave-out check of ``fmlake search evaluate --everyday-leave-out`` sets it
    equivalents_left_out: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise SearchError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.norm not in NORMS:
            raise SearchError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise SearchError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.vector_index not in VECTOR_INDEXES:
            raise SearchError(f"vector_index must be one of {', '.join(VECTOR_INDEXES)}, got {self.vector_index!r}")
        if self.rescore < 1:
            raise SearchError(f"rescore must be >= 1, got {self.rescore}")
        if not 0.0 <= self.example_discount <= 1.0:
            raise SearchError(f"example_discount must be in [0, 1], got {self.example_discount}")
        if not 0.0 <= self.example_prior <= 2.0:
            raise SearchError(f"example_prior must be in [0, 2], got {self.example_prior}")
        if not 1 <= self.example_top <= 50:
            raise SearchError(f"example_top must be in 1..50, got {self.example_top}")
        if not 0.0 <= self.expand_weight <= 1.0:
            raise SearchError(f"expand_weight must be in [0, 1], got {self.expand_weight}")
        if not 0.0 <= self.surface_weight <= 2.0:
            raise SearchError(f"surface_weight must be in [0, 2], got {self.surface_weight}")
        if self.rrf_k < 1 or self.depth < 1:
            raise SearchError("rrf_k and depth must be >= 1")
        if self.z_top < 2:
            raise SearchError(f"z_top must be >= 2, got {self.z_top}")


@dataclass
class Hit:
    rank: int
    doc_id: str
    doc_type: str
    ref: str
    title: str
    url: str | None
    snippet: str
    score: float
    bm25: float
    dense: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BuildStats:
    documents: int = 0
    vectors: int = 0
    embedded: int = 0
    reused_vectors: int = 0
    embed_s: float = 0.0
    bm25_s: float = 0.0
    vector_index_s: float = 0.0
    total_s: float = 0.0
    vector_index: str = "exact"
    model: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def docs_per_s(self) -> float:
        return self.documents / self.total_s if self.total_s > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["docs_per_s"] = round(self.docs_per_s, 1)
        for k in ("embed_s", "bm25_s", "vector_index_s", "total_s"):
            d[k] = round(d[k], 3)
        return d


def dense_text(title: str | None, body: str | None) -> str:
    """What a document's own vector embeds (lower case: see the module docstring)."""
    return f"{title or ''}. {body or ''}".strip(" .").lower()


def validate_query(query: Any, mode: Any = "hybrid", k: Any = 10) -> tuple[str, str, int]:
    """Check a search request; returns (query, mode, k) or raises SearchError with a clear message."""
    if not isinstance(query, str) or not query.strip():
        raise SearchError("the query is empty: pass some text to search for")
    if len(query) > MAX_QUERY_CHARS:
        raise SearchError(f"the query has {len(query)} characters; at most {MAX_QUERY_CHARS} are accepted")
    if "\x00" in query:
        raise SearchError("the query contains a NUL character")
    if mode not in MODES:
        raise SearchError(f"mode must be one of {', '.join(MODES)}; got {str(mode)[:40]!r}")
    try:
        k_int = int(k)
    except (TypeError, ValueError):
        raise SearchError(f"k must be an integer between 1 and {MAX_K}; got {str(k)[:40]!r}") from None
    if not 1 <= k_int <= MAX_K or str(k).strip() not in (str(k_int), f"+{k_int}"):
        raise SearchError(f"k must be an integer between 1 and {MAX_K}; got {str(k)[:40]!r}")
    return query.strip(), mode, k_int


def _z(x: np.ndarray, stats: tuple[float, float] | None = None) -> np.ndarray:
    """z-scores of ``x`` over the corpus; ``stats`` (mean, sd) when ``x`` is only partly computed (HNSW)."""
    mean, sd = stats if stats is not None else (float(x.mean()), float(x.std()))
    return (x - mean) / sd if np.isfinite(sd) and sd > 1e-12 else np.zeros_like(x)


def _z_top(x: np.ndarray, n: int) -> np.ndarray:
    """z-scores of ``x`` against its ``n`` highest values (zeros when they do not spread), floored at the z of the
    ``n``-th: below a retriever's candidates every document is equally none of them (a table's long column notes
    are far from a short query's vector; unfloored, dense's z of -5 to -20 sank it under any keyword match). With
    an approximate vector index the top ``max(depth, z_top)`` dense scores are exact, so this needs no sample."""
    n = min(n, x.shape[0])
    if n < 2:
        return np.zeros_like(x)
    top = _top_values(x, n)
    return _z(np.maximum(x, top.min()), (float(top.mean()), float(top.std())))


def _top_values(x: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` highest values of ``x`` (``n <= len(x)``), in no order. Selected as the lowest of ``-x``:
    ``np.partition(x, -n)`` takes 8 ms on 100k values that are mostly one value (BM25's zeros, the one score an
    approximate vector index gives the documents it did not score), ``np.partition(-x, n - 1)`` 0.4 ms."""
    return -np.partition(-x, n - 1)[:n]


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    k = min(k, scores.shape[0])
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


class _HNSW:
    """DuckDB vss HNSW index over the vectors (inner product on unit vectors = cosine)."""

    def __init__(self, vectors: np.ndarray) -> None:
        import pyarrow as pa

        from lakehouse.duck import connect

        self.dim = int(vectors.shape[1])
        self.con = connect(extensions=("vss",))
        self.con.execute("SET hnsw_enable_experimental_persistence = false")
        # the default ef_search (64) is below the candidate depth we ask for; 256 keeps the candidates close to exact
        self.con.execute("SET hnsw_ef_search = 256")
        flat = pa.array(vectors.astype(np.float32).ravel(), type=pa.float32())
        arr = pa.FixedSizeListArray.from_arrays(flat, self.dim)
        table = pa.table({"vid": pa.array(np.arange(len(vectors), dtype=np.int64)), "vec": arr})
        self.con.register("vectors_arrow", table)
        self.con.execute(f"CREATE TABLE vectors AS SELECT vid, vec::FLOAT[{self.dim}] AS vec FROM vectors_arrow")
        self.con.unregister("vectors_arrow")
        self.con.execute("CREATE INDEX vectors_hnsw ON vectors USING HNSW (vec) WITH (metric = 'ip')")
        self.lock = threading.Lock()

    def _sql(self, q: np.ndarray, n: int) -> str:
        # The query vector and LIMIT are literals: the HNSW optimizer needs constants, and binding a 512-float
        # Python list as a parameter costs ~40 ms where parsing the literal costs ~5. Both are numbers we format
        # ourselves (finite floats, an int), never user text.
        q = np.asarray(q, dtype=np.float32)
        if q.shape != (self.dim,) or not np.all(np.isfinite(q)):
            raise ValueError(f"query vector must be {self.dim} finite floats")
        literal = ",".join(f"{x:.7g}" for x in q.tolist())
        return (f"SELECT vid, array_negative_inner_product(vec, [{literal}]::FLOAT[{self.dim}]) AS d "
                f"FROM vectors ORDER BY d LIMIT {int(n)}")

    def plan(self, n: int = 10) -> str:
        rows = self.con.execute("EXPLAIN " + self._sql(np.zeros(self.dim, dtype=np.float32), n)).fetchall()
        return "\n".join(r[1] for r in rows)

    def search(self, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        sql = self._sql(q, n)
        with self.lock:
            rows = self.con.execute(sql).fetchall()
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        vids, dists = zip(*rows)
        return np.asarray(vids, dtype=np.int64), -np.asarray(dists, dtype=np.float32)

    def nearest(self, q: np.ndarray) -> Callable[[int], np.ndarray]:
        """``fetch(n)``: the ids of the ``n`` vectors nearest to ``q`` (one HNSW query per call)."""
        return lambda n: self.search(q, n)[0]


class _BinaryCodes:
    """Sign bits of every vector, one uint64 array per 64 dimensions (column-major: the Hamming distance of a
    query to all vectors is a few vectorised XOR + popcount passes over contiguous arrays)."""

    def __init__(self, vectors: np.ndarray) -> None:
        bits = np.packbits(vectors > 0, axis=1)
        pad = (-bits.shape[1]) % 8
        if pad:
            bits = np.pad(bits, ((0, 0), (0, pad)))
        self.cols = np.ascontiguousarray(bits.view(np.uint64).T)

    def _code(self, q: np.ndarray) -> np.ndarray:
        bits = np.packbits(np.asarray(q) > 0)
        pad = (-len(bits)) % 8
        return (np.pad(bits, (0, pad)) if pad else bits).view(np.uint64)

    def distances(self, q: np.ndarray) -> np.ndarray:
        code = self._code(q)
        h = np.bitwise_count(self.cols[0] ^ code[0]).astype(np.uint16)
        for j in range(1, len(code)):
            h += np.bitwise_count(self.cols[j] ^ code[j])
        return h

    def nearest(self, q: np.ndarray) -> Callable[[int], np.ndarray]:
        """``fetch(n)``: the ``n`` vectors nearest to ``q`` by Hamming distance (unordered); the distances are
        computed once per query, however many times ``fetch`` widens."""
        h = self.distances(q)

        def fetch(n: int) -> np.ndarray:
            return np.argpartition(h, n - 1)[:n] if n < len(h) else np.arange(len(h))
        return fetch


class SearchIndex:
    """An in-memory BM25 + vector index over a corpus frame. Thread-safe for concurrent ``search`` calls."""

    def __init__(self, corpus: pl.DataFrame, vectors: np.ndarray, owners: np.ndarray, embedder: Any,
                 config: IndexConfig, stats: BuildStats, bm25: Any, vocab: dict[str, int]) -> None:
        from assets.search.corpus import with_attr_columns

        corpus = with_attr_columns(corpus)
        self.corpus = corpus
        self.vectors = vectors
        self.owners = owners
        self.embedder = embedder
        self.config = config
        self.stats = stats
        self._bm25 = bm25
        self._vocab = vocab
        self._expander = VocabExpander(vocab)
        self._n = corpus.height
        self._single_vector = bool(len(owners) == self._n and np.array_equal(owners, np.arange(self._n)))
        if len(owners) and (np.any(np.diff(owners) < 0) or len(np.unique(owners)) != self._n):
            raise SearchError("every document needs its vectors, stored contiguously in document order")
        # where each document's vectors start (owners is sorted): the maximum per document is one reduceat
        self._starts = np.searchsorted(owners, np.arange(self._n)) if len(owners) else np.zeros(0, dtype=np.int64)
        self._ends = np.append(self._starts[1:], len(owners)).astype(np.int64) if len(owners) else self._starts
        self._is_example = np.ones(len(owners), dtype=np.float32)   # every vector but a document's first
        self._is_example[self._starts] = 0.0
        # the example prior: z-score of log(1 + a document's examples) over the corpus (zeros when none has any)
        n_examples = np.log1p((self._ends - self._starts - 1).astype(np.float64)) if len(owners) else np.zeros(self._n)
        spread = float(n_examples.std()) if self._n else 0.0
        self._prior = ((n_examples - n_examples.mean()) / spread if spread > 0 else np.zeros(self._n)
                       ).astype(np.float32)
        self._ids = corpus["doc_id"].to_list()
        self._types = corpus["doc_type"].to_list()
        self._refs = corpus["ref"].to_list()
        self._titles = corpus["title"].to_list()
        self._urls = corpus["url"].to_list()
        self._bodies = corpus["body"].to_list()
        kind = config.vector_index
        if kind == "auto":
            kind = ("exact" if len(vectors) <= config.exact_max_vectors else
                    "binary" if len(vectors) <= config.binary_max_vectors else "hnsw")
        self._hnsw: _HNSW | _BinaryCodes | None = None   # the approximate candidate search, when not exact
        if kind != "exact" and len(vectors):
            t = time.perf_counter()
            self._hnsw = _HNSW(vectors) if kind == "hnsw" else _BinaryCodes(vectors)
            stats.vector_index_s += time.perf_counter() - t
            stats.total_s += stats.vector_index_s
        stats.vector_index = kind if self._hnsw is not None else "exact"
        # the fixed sample of documents norm="corpus" needs with an approximate index, built at its first use (a
        # dict: shared with the copies ``with_config`` makes)
        self._sample: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._sample_lock = threading.Lock()

    # ------------------------------------------------------------ building
    @classmethod
    def build(cls, corpus: pl.DataFrame, embedder: Any, config: IndexConfig | None = None,
              stored: pl.DataFrame | None = None) -> "SearchIndex":
        """Index ``corpus``; ``stored`` (rows of gold.search_embeddings: doc_id, kind, text, embedding) supplies
        vectors already computed with the same model, so only new texts are embedded."""
        config = config or IndexConfig()
        if corpus.is_empty():
            raise SearchError("the search corpus is empty: nothing to index")
        t0 = time.perf_counter()
        stats = BuildStats(documents=corpus.height, model=getattr(embedder, "name", type(embedder).__name__))
        texts, owners, kinds = vector_texts(corpus)
        have: dict[tuple[str, str], np.ndarray] = {}
        if stored is not None and stored.height:
            for r in stored.select("doc_id", "kind", "text", "embedding").iter_rows():
                have[(r[1], r[2])] = np.asarray(r[3], dtype=np.float32)
        need = [i for i, (kind, t) in enumerate(zip(kinds, texts)) if (kind, t) not in have]
        t = time.perf_counter()
        new = embedder.embed([texts[i] for i in need], batch_size=config.embed_batch_size) if need else None
        stats.embed_s = time.perf_counter() - t
        stats.embedded, stats.reused_vectors = len(need), len(texts) - len(need)
        if new is not None:
            dim = new.shape[1]
        elif have:
            dim = len(next(iter(have.values())))
        else:
            raise SearchError("no texts to embed")
        vectors = np.empty((len(texts), dim), dtype=np.float32)
        new_pos = {i: j for j, i in enumerate(need)}
        for i, (kind, text) in enumerate(zip(kinds, texts)):
            if i in new_pos:
                vectors[i] = new[new_pos[i]]
            else:
                v = have[(kind, text)]
                if v.shape[0] != dim:
                    raise SearchError(f"stored embedding of {text[:40]!r} has {v.shape[0]} dims, expected {dim}: "
                                      "the embeddings were made with another model; rebuild them")
                vectors[i] = v
        stats.vectors = len(texts)
        t = time.perf_counter()
        bm25, vocab = build_bm25(keyword_texts(corpus), config)
        stats.bm25_s = time.perf_counter() - t
        stats.total_s = time.perf_counter() - t0
        return cls(corpus, vectors, np.asarray(owners, dtype=np.int64), embedder, config, stats, bm25, vocab)

    def with_config(self, **changes: Any) -> "SearchIndex":
        """The same index scored with other fusion parameters (no re-embedding; vector index kept)."""
        new = object.__new__(SearchIndex)
        new.__dict__.update(self.__dict__)
        new.config = replace(self.config, **changes)
        return new

    # ------------------------------------------------------------ scoring
    def query_terms(self, query: str) -> tuple[list[str], list[str]]:
        """(the query's stems the index knows, their expansions not already among them: the vocabulary stems of
        each stem's word family and of the base words of each query word, ``taquería`` -> ``tacos``, see
        :func:`assets.search.everyday.base_words`; and of a stem it does not know, those that sound the same,
        ``gimnacio`` -> ``gimnasi``, see :meth:`assets.search.text.VocabExpander.respell`)."""
        stems = analyse(query)
        exact = [t for t in stems if t in self._vocab]
        if self.config.expand_weight <= 0:
            return exact, []
        have = set(stems)
        derived = [s for w in tokens(query) if len(w) >= 2 and w not in STOPWORDS
                   for b in base_words(w, self.config.equivalents_left_out) for s in analyse(b) if s in self._vocab]
        # a word the index does not know, written by ear: the known words that sound the same
        derived += [v for t in stems if t not in self._vocab for v in self._expander.respell(t)]
        family = [v for t in (*stems, *derived) for v in self._expander.expand(t)]
        extra = list(dict.fromkeys(v for v in (*derived, *family) if v not in have))
        return exact, extra

    def bm25_scores(self, query: str) -> np.ndarray:
        exact, extra = self.query_terms(query)
        out = np.zeros(self._n, dtype=np.float32)
        self._add_bm25(out, exact, 1.0)
        self._add_bm25(out, extra, self.config.expand_weight)
        self._add_bm25(out, surface_terms(query), self.config.surface_weight)
        return out

    def _add_bm25(self, out: np.ndarray, terms: list[str], weight: float) -> None:
        """Add ``weight`` x the BM25 score of each term to ``out``, from the index's precomputed term columns
        (bm25s's own scorer adds with ``np.add.at``, ~50x slower without numba: 90 ms for a frequent word at 100k
        documents; a term's column lists each document once, so a fancy-indexed add is the same sum)."""
        if not terms or weight == 0:
            return
        sc = self._bm25.scores
        data, indices, indptr = sc["data"], sc["indices"], sc["indptr"]
        non = getattr(self._bm25, "nonoccurrence_array", None)   # BM25L / BM25+ only (we index with lucene)
        for t in terms:
            tid = self._vocab.get(t)
            if tid is None:
                continue
            a, b = int(indptr[tid]), int(indptr[tid + 1])
            out[indices[a:b]] += data[a:b] if weight == 1.0 else weight * data[a:b]
            if non is not None:
                out += weight * float(non[tid])

    def embed_queries(self, queries: list[str]) -> np.ndarray:
        return self.embedder.embed([self.as_heard(q).lower() for q in queries],
                                   batch_size=self.config.embed_batch_size, role="query")

    def as_heard(self, query: str) -> str:
        """``query`` for the dense model: each word the index knows neither as written nor by its stem, and that
        sounds like exactly one word it does know, written as that word ("bulcanizadora 24 hrs" -> "vulcanizadora
        24 hrs"). BM25 meets such a word through :meth:`VocabExpander.respell`; the model would embed the
        misspelling, far from the word meant. The other words are left as typed."""
        def heard(m: re.Match) -> str:
            word = m.group(0)
            folded = tokens(word)
            if len(folded) != 1 or len(folded[0]) < SOUND_MIN_LETTERS or folded[0] in STOPWORDS:
                return word
            w = singular(folded[0])
            if SURFACE + w in self._vocab or any(t in self._vocab for t in analyse(folded[0])):
                return word
            known = self._expander.respell_word(w)
            return known[0] if len(known) == 1 else word

        return _WORD.sub(heard, query)

    def dense_scores(self, qvec: np.ndarray) -> np.ndarray:
        """Per-document dense score for one unit query vector (HNSW: exact for its candidate documents, the
        lowest candidate score for the others)."""
        return self._dense(qvec)[0]

    def _doc_scores(self, qvec: np.ndarray, docs: np.ndarray) -> np.ndarray:
        """Exact dense scores of the documents ``docs`` (all their vectors)."""
        q = qvec.astype(np.float32)
        if self._single_vector:
            return self.vectors[docs] @ q
        # the rows of each document are contiguous (owners is sorted): [starts[d], ends[d]) for each d in docs
        begins, lens = self._starts[docs], self._ends[docs] - self._starts[docs]
        starts = np.cumsum(lens) - lens
        rows = np.repeat(begins - starts, lens) + np.arange(int(lens.sum()))
        sims = self.vectors[rows] @ q
        return self._best_per_document(sims, self._is_example[rows], starts)

    def _dense(self, qvec: np.ndarray, also: np.ndarray | None = None
               ) -> tuple[np.ndarray, tuple[float, float] | None]:
        """(scores, corpus (mean, sd) of the scores when they are not all exact). With an approximate index the
        documents ``also`` (hybrid: BM25's top documents) are scored exactly besides the nearest ones: a strong
        keyword match outside the dense candidates would otherwise be fused with the lowest candidate score,
        far above its own, and outrank what the exact index ranks first."""
        if self._hnsw is None:
            sims = self.vectors @ qvec.astype(np.float32)
            return (sims if self._single_vector else self._aggregate(sims)), None
        # candidate documents: vectors from the approximate index until they cover ``depth`` documents and the
        # ``z_top`` whose scores set the fusion's scale (a class with many example vectors must not crowd the others
        # out), then every vector of those documents scored exactly
        c = self.config
        want = min(max(c.depth, c.z_top if c.norm == "top" and c.fusion == "weighted" else 1), self._n)
        n = want if isinstance(self._hnsw, _HNSW) else min(max(c.rescore, 4 * want), len(self.vectors))
        fetch = self._hnsw.nearest(qvec)
        while True:
            vids = fetch(n)
            docs = np.unique(self.owners[vids])
            if len(docs) >= want or n >= len(self.vectors):
                break
            n = min(n * 4, len(self.vectors))
        if also is not None and len(also):
            docs = np.union1d(docs, also)
        exact = self._doc_scores(qvec, docs)
        out = np.full(self._n, float(exact.min()) if len(exact) else 0.0, dtype=np.float32)
        out[docs] = exact
        if c.norm == "top":      # the fusion needs only the exact top ``z_top``
            return out, None
        sample = self._sample_scores(qvec)
        return out, (float(sample.mean()), float(sample.std()))

    def _sample_scores(self, qvec: np.ndarray) -> np.ndarray:
        """Exact dense scores of the fixed sample of documents (the z-score statistics of an approximate index)."""
        vectors, is_example, starts = self._stats_sample()
        sims = vectors @ qvec.astype(np.float32)
        if self._single_vector:
            return sims
        return self._best_per_document(sims, is_example, starts)

    def _stats_sample(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(vectors, is_example, starts) of ``HNSW_STATS_SAMPLE`` documents drawn once (seed 0): an approximate
        index scores only its candidate documents, and the corpus-wide mean and spread of norm="corpus" come from
        this sample scored exactly (so hybrid ranks as with the exact index). Its vectors are kept contiguous: a
        gather of 2048 scattered rows per query costs 10-20 ms. Only norm="corpus" uses it (the default, "top",
        needs the exact top ``z_top`` alone), so it is built at its first use, not at load."""
        with self._sample_lock:
            if not self._sample:
                docs = np.sort(np.random.default_rng(0).choice(self._n, size=min(self._n, HNSW_STATS_SAMPLE),
                                                               replace=False))
                rows = docs if self._single_vector else np.flatnonzero(np.isin(self.owners, docs))
                self._sample["docs"] = (np.ascontiguousarray(self.vectors[rows]), self._is_example[rows],
                                        np.searchsorted(self.owners[rows], docs))
            return self._sample["docs"]

    @property
    def uses_hnsw(self) -> bool:
        """Whether dense scores come from an approximate candidate search (binary codes or HNSW), per query."""
        return self._hnsw is not None

    def dense_scores_batch(self, qvecs: np.ndarray) -> np.ndarray:
        """Exact dense scores for many queries at once, from every vector (the evaluation of an exact index;
        what an HNSW index returns per query comes from :meth:`scores`)."""
        sims = qvecs.astype(np.float32) @ self.vectors.T
        if self._single_vector:
            return sims
        return np.stack([self._aggregate(row) for row in sims])

    def _aggregate(self, sims: np.ndarray) -> np.ndarray:
        """A document's dense score (see :meth:`_best_per_document`) from the cosines of every vector."""
        return self._best_per_document(sims, self._is_example, self._starts)

    def _best_per_document(self, sims: np.ndarray, is_example: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Dense score of each document from its contiguous run of vector cosines beginning at ``starts``: the
        cosine of its own text, or the mean of its ``example_top`` best example cosines less ``example_discount``,
        whichever is higher. A mean, not a sum: one scale for a document with one vector and a class with 200
        examples (never above 1), yet a class with several close examples outranks one with a single lucky
        match; a class with fewer examples than ``example_top`` is the mean of those it has."""
        c = self.config
        if c.example_top <= 1:
            if c.example_discount:
                sims = sims - c.example_discount * is_example
            return np.maximum.reduceat(sims, starts).astype(np.float32)
        example = is_example > 0
        own = np.maximum.reduceat(np.where(example, -np.inf, sims), starts)
        lens = np.diff(np.append(starts, len(sims)))
        seg = np.repeat(np.arange(len(starts)), lens)
        # the m best per document by m passes of a segment maximum (each pass removes the current maximum,
        # counting ties as often as they occur): O(m * vectors), no sort
        cur = np.where(example, sims, -np.inf).astype(np.float32)
        left = np.full(len(starts), c.example_top, dtype=np.int64)
        total = np.zeros(len(starts), dtype=np.float64)
        taken = np.zeros(len(starts), dtype=np.int64)
        for _ in range(c.example_top):
            top = np.maximum.reduceat(cur, starts)
            live = np.isfinite(top) & (left > 0)
            if not live.any():
                break
            at_top = (cur == top[seg]) & live[seg]
            take = np.minimum(np.add.reduceat(at_top.astype(np.int64), starts), left)
            total += np.where(take > 0, take * np.where(live, top, 0.0), 0.0)
            taken += take
            left -= take
            cur[at_top] = -np.inf
        examples = np.where(taken > 0, total / np.maximum(taken, 1) - c.example_discount, -np.inf)
        return np.maximum(own, examples).astype(np.float32)

    def fuse(self, bm25: np.ndarray, dense: np.ndarray, dense_stats: tuple[float, float] | None = None
             ) -> np.ndarray:
        c = self.config
        if c.fusion == "weighted":
            if c.norm == "top":
                out = c.alpha * _z_top(bm25, c.z_top) + (1.0 - c.alpha) * _z_top(dense, c.z_top)
            else:
                out = c.alpha * _z(bm25) + (1.0 - c.alpha) * _z(dense, dense_stats)
            if c.example_prior:
                # how often the labelled data used a class: the prior a register query carries, not a scale of
                # the dense score (the site leaves it at 0: a fact or a table has no examples to count)
                out = out + c.example_prior * self._prior
            return out.astype(np.float32)
        out = np.zeros(self._n, dtype=np.float64)
        for scores, keyword in ((bm25, True), (dense, False)):
            if scores.max() <= scores.min():   # a retriever with no signal (e.g. no known word) adds nothing
                continue
            top = _top(scores, c.depth)
            if keyword:
                top = top[scores[top] > 0]     # BM25 ranks only documents sharing a word with the query
            out[top] += 1.0 / (c.rrf_k + np.arange(1, len(top) + 1))
        return out.astype(np.float32)

    def scores(self, query: str, mode: str,
               qvec: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(final, bm25, dense) score arrays over the corpus for one query."""
        zero = np.zeros(self._n, dtype=np.float32)
        bm25 = self.bm25_scores(query) if mode in ("bm25", "hybrid") else zero
        stats = None
        if mode in ("dense", "hybrid"):
            qvec = self.embed_queries([query])[0] if qvec is None else qvec
            also = None
            if mode == "hybrid" and self._hnsw is not None:
                top = _top(bm25, self.config.depth)
                also = top[bm25[top] > 0]
            dense, stats = self._dense(qvec, also)
        else:
            dense = zero
        final = bm25 if mode == "bm25" else dense if mode == "dense" else self.fuse(bm25, dense, stats)
        return final, bm25, dense

    def search(self, query: Any, mode: Any = "hybrid", k: Any = 10) -> list[Hit]:
        """Top ``k`` documents for ``query``. BM25 returns only documents sharing a word with the query."""
        query, mode, k = validate_query(query, mode, k)
        final, bm25, dense = self.scores(query, mode)
        top = _top(final, k)
        if mode == "bm25":
            top = top[bm25[top] > 0]
        return [self.hit(i, r + 1, float(final[i]), float(bm25[i]), float(dense[i])) for r, i in enumerate(top)]

    def hit(self, i: int, rank: int, score: float, bm25: float = 0.0, dense: float = 0.0) -> Hit:
        body = self._bodies[i] or ""
        snippet = body if len(body) <= 240 else body[:239].rsplit(" ", 1)[0] + "…"
        return Hit(rank=rank, doc_id=self._ids[i], doc_type=self._types[i], ref=self._refs[i], title=self._titles[i],
                   url=self._urls[i], snippet=snippet, score=round(score, 6), bm25=round(bm25, 6),
                   dense=round(dense, 6))

    def describe(self) -> dict[str, Any]:
        counts = self.corpus.group_by("doc_type").len().sort("doc_type")
        return {"documents": self._n, "vectors": int(len(self.vectors)), "by_type": dict(counts.iter_rows()),
                "vector_index": self.stats.vector_index, "model": self.stats.model,
                "config": {k: sorted(v) if isinstance(v, frozenset) else v for k, v in asdict(self.config).items()}}


COLUMNS_MARK = " Columnas: "     # where a table or mart document lists its columns (assets.search.corpus)
_COLUMN_NAME = re.compile(r"(?:^|; )([A-Za-z_][A-Za-z0-9_]*)(?=: |; |\.?$)")


def keyword_texts(corpus: pl.DataFrame) -> list[str]:
    """What BM25 sees per document: title, body and the example descriptions. A table or mart keeps the names of
    its columns but not their (English) descriptions: a page of column notes would otherwise weigh its Spanish
    terms down against a one-line class title (BM25's length normalisation), while the dense vector and the
    page keep the whole text."""
    out = []
    for doc_type, title, body, examples in corpus.select("doc_type", "title", "body", "examples").iter_rows():
        body = body or ""
        if doc_type in ("table", "mart") and COLUMNS_MARK in body:
            head, cols = body.split(COLUMNS_MARK, 1)
            body = head + COLUMNS_MARK + " ".join(_COLUMN_NAME.findall(cols))
        out.append(" ".join([title or "", body, *(examples or [])]))
    return out


def vector_texts(corpus: pl.DataFrame) -> tuple[list[str], list[int], list[str]]:
    """(texts, owner document index, kind) of every vector: the document itself, then each distinct example."""
    texts, owners, kinds = [], [], []
    for i, (title, body, examples) in enumerate(corpus.select("title", "body", "examples").iter_rows()):
        texts.append(dense_text(title, body))
        owners.append(i)
        kinds.append("document")
        for ex in dict.fromkeys(e.lower() for e in (examples or []) if e and e.strip()):
            texts.append(ex)
            owners.append(i)
            kinds.append("example")
    return texts, owners, kinds


def build_bm25(texts: list[str], config: IndexConfig) -> tuple[Any, dict[str, int]]:
    import bm25s

    model = bm25s.BM25(k1=config.k1, b=config.b, method="lucene")
    model.index([analyse(t, max_tokens=100_000) + surface_terms(t, max_tokens=100_000) for t in texts],
                show_progress=False)
    return model, dict(model.vocab_dict)
