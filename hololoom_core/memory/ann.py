"""An approximate nearest-neighbour index over message vectors: faiss's inverted file (IVF) with 8-bit codes.

The vectors are split into `nlist` cells by k-means (trained on a sample); a query scans only the
`nprobe` cells whose centroids are nearest. Codes are 8-bit per dimension (256 bytes per 256-d
vector). Keys are row positions of `VectorIndex`, so a filter is a bitmap of those rows. The index
holds no state of its own: it is always built from the vectors `VectorIndex` loaded from SQLite
(about 9 s for a million vectors on one core here), so there is nothing to keep in step on disk.
Why IVF and not a graph index (hnswlib, usearch, faiss HNSW) is in docs/memory.md: building and
adding are 5-20x faster, which keeps ingest fast, and filters run inside the search.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

NPROBE = 16
_FAISS_LOCK = threading.Lock()
_FAISS: Any = None


def _faiss() -> Any:
    """faiss, imported on first use (it takes ~0.2 s) and kept to one OpenMP thread: a query is one small
    scan, and a second thread would fight the engine for the other core."""
    global _FAISS
    with _FAISS_LOCK:
        if _FAISS is None:
            import logging

            logging.getLogger("faiss.loader").setLevel(logging.WARNING)
            import faiss

            faiss.omp_set_num_threads(1)
            _FAISS = faiss
    return _FAISS


def cells_for(count: int) -> int:
    """How many IVF cells suit `count` vectors: about sqrt(count), between 16 and 4096."""
    return max(16, min(4096, int(math.sqrt(max(1, count)))))


class IvfIndex:
    """faiss IVF-SQ8 over inner product, keyed by row position; trained once, then vectors are added as they come."""

    def __init__(self, dim: int, sample: np.ndarray, expected: int) -> None:
        faiss = _faiss()
        self.nlist = cells_for(expected)
        self.quantizer = faiss.IndexFlatIP(dim)
        self.index = faiss.IndexIVFScalarQuantizer(self.quantizer, dim, self.nlist,
                                                   faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        self.index.train(sample)
        self.trained_for = expected
        self.count = 0
        self.dead_before = 0  # rows already dead when it was built (never added), so not its own dead weight

    def add(self, positions: np.ndarray, vectors: np.ndarray) -> None:
        """Add float32 vectors under their row positions."""
        import numpy as np

        if len(positions):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                    np.ascontiguousarray(positions, dtype=np.int64))
            self.count += len(positions)

    def search(self, query: np.ndarray, count: int, allowed: np.ndarray | None = None,
               widen: float = 1.0) -> np.ndarray:
        """Row positions of about the `count` nearest vectors (best first, unscored); with `allowed`
        (a bool array over rows) only those rows, scanning `widen` times more cells."""
        import numpy as np

        faiss = _faiss()
        nprobe = min(self.nlist, max(1, int(NPROBE * widen)))
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if allowed is None:
            params = faiss.SearchParametersIVF(nprobe=nprobe)
            _, found = self.index.search(query, count, params=params)
        else:
            bitmap = np.packbits(allowed, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
            params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
            _, found = self.index.search(query, count, params=params)
            del selector, bitmap
        row = found[0]
        return row[row >= 0]
