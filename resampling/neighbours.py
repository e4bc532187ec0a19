"""Exact k-nearest neighbours of every point of a set, with far less work than brute force.

Brute force compares all n² pairs. Heartbeats are highly compressible, which gives cheap lower
bounds on distances: for an orthonormal projection P onto the top principal directions and the norm ρ
of what it leaves out, ``|x - y|² >= |Px - Py|² + (ρx - ρy)²``. So every point gets a short
"bound vector" w = (Px, ρx), and ``|wx - wy| <= |x - y|``. Points are grouped into clusters of bound
vectors; for each cluster of queries:

1. exact distances to the nearest clusters give every query an upper bound U on its k-th neighbour;
2. clusters whose bound-space distance (minus their radius) exceeds every query's U are skipped;
3. within the remaining clusters, bound-vector distances (cheap: a few dimensions) discard the points
   farther than U, and exact distances are computed only for the points some query still needs.

Nothing is approximate: a point is skipped only when a lower bound on its distance exceeds a distance
already found. Exact distances are computed like scikit-learn's brute-force search (float64,
``|x|² - 2x·y + |y|²``), so the neighbours are those ``sklearn.neighbors.NearestNeighbors`` returns.
Exactly equal distances (duplicate points) are ordered by index; scikit-learn returns the same set but
in its sort's order, which can differ.
"""
from __future__ import annotations

import numpy as np

from benchmark.cores import available_cores

_MARGIN = 1e-5  # absolute slack on distance bounds, far above the float64 rounding of beats' distances


def kneighbors(x: np.ndarray, k: int, bound_dims: int = 16, cluster_size: int = 256,
               seed: int = 0, workers: int | None = None) -> np.ndarray:
    """Indices (n, k) of the k nearest points of x to each point of x, itself included: first, unless
    an exact duplicate of it has a lower index (equal distances are ordered by index)."""
    n = len(x)
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of points ({n}), got {k}")
    workers = workers or available_cores()
    rng = np.random.default_rng(seed)
    x64 = np.ascontiguousarray(x, dtype=np.float64).reshape(n, -1)
    w = _bound_vectors(x64, min(bound_dims, x64.shape[1]), rng)
    n_clusters = int(np.clip(n // cluster_size, 1, 8192))
    centres = _kmeans_centres(w, n_clusters, rng)
    label = _nearest(w, centres)
    order = np.argsort(label, kind="stable")  # points in cluster order, so a cluster is a slice
    edges = np.searchsorted(label[order], np.arange(n_clusters + 1))
    sizes = np.diff(edges)
    xs, w = x64[order], w[order]
    # [y, |y|²] against [-2q, 1] gives |y|² - 2q·y: the squared distance less |q|², in one product
    xa = np.hstack([xs, np.einsum("ij,ij->i", xs, xs)[:, None]])
    radius = np.zeros(n_clusters)
    for c in np.flatnonzero(sizes):
        radius[c] = np.sqrt(((w[edges[c]:edges[c + 1]] - centres[c]) ** 2).sum(1).max())
    c_norms = np.einsum("ij,ij->i", centres, centres)
    w_norms = np.einsum("ij,ij->i", w, w)
    keep = min(k + 4, n)  # a few spare candidates so ties at the k-th place resolve by index
    result = np.empty((n, k), dtype=np.int64)

    def solve(a):
        qs = slice(edges[a], edges[a + 1])
        qa = np.hstack([-2.0 * xs[qs], np.ones((sizes[a], 1))])
        q_norm = xa[qs, -1]
        lower = np.sqrt(np.maximum(_sq_dist(w[qs], w_norms[qs], centres, c_norms), 0.0)) - radius
        lower[:, sizes == 0] = np.inf
        closest = lower.min(axis=0)
        visit = np.argsort(closest, kind="stable")
        best_d = np.full((sizes[a], keep), np.inf)  # |y|² - 2q·y of the best candidates so far
        best_i = np.full((sizes[a], keep), -1, dtype=np.int64)
        reach = np.full(sizes[a], np.inf)
        pos, step = 0, 2
        # best first: clusters by their lower bound, a few at a time; every batch tightens each
        # query's reach (its k-th distance so far), which prunes the clusters still to visit
        while pos < n_clusters and closest[visit[pos]] <= reach.max():
            batch = visit[pos:pos + step]
            pos += len(batch)
            near = lower[:, batch] <= reach[:, None]
            used = near.any(axis=0)
            batch, near, rows = batch[used], near[:, used], np.flatnonzero(near.any(axis=1))
            if not len(batch):
                continue
            cand = np.concatenate([np.arange(edges[c], edges[c + 1]) for c in batch])
            if np.isfinite(reach[rows]).all():  # bound-space distances discard points beyond reach
                cand = cand[_within_reach(w[qs][rows], w[cand], reach[rows], centres[a])]
                if not len(cand):
                    continue
            d = qa[rows] @ xa[cand].T
            best_d[rows], best_i[rows] = _merge(best_d[rows], best_i[rows], d, order[cand], keep)
            reach = np.sqrt(np.maximum(best_d[:, k - 1] + q_norm, 0.0)) + _MARGIN
            step = min(step * 2, 64)
        result[order[qs]] = best_i[:, :k]

    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    # one query cluster per thread: numpy releases the GIL, and small products gain more from
    # running side by side than from a multi-threaded BLAS
    with threadpool_limits(1), ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(solve, np.flatnonzero(sizes)))
    return result


def _within_reach(qw, yw, reach, centre):
    """Positions of the points yw whose bound-space distance to some query qw is within its reach
    (float32, with a tolerance well above float32 rounding, so no point that could be within reach
    is dropped)."""
    qc, yc = qw - centre, yw - centre  # centred: small magnitudes, small rounding
    y2 = np.einsum("ij,ij->i", yc, yc)
    q2 = np.einsum("ij,ij->i", qc, qc)
    tol = 1e-5 * (1.0 + 2.0 * np.sqrt(q2.max())) * (1.0 + y2.max())
    prod = (-2.0 * qc).astype(np.float32) @ yc.T.astype(np.float32)
    prod += y2.astype(np.float32)
    limit = (reach ** 2 - q2 + tol).astype(np.float32)
    return np.flatnonzero((prod <= limit[:, None]).any(axis=0))


def _bound_vectors(x64: np.ndarray, dims: int, rng: np.random.Generator, sample: int = 20_000):
    """(Px, ρx): coordinates on the top principal directions and the norm of the rest."""
    pick = x64[rng.choice(len(x64), size=min(sample, len(x64)), replace=False)]
    mean = pick.mean(axis=0)
    centred = pick - mean
    basis = np.linalg.eigh(centred.T @ centred)[1][:, ::-1][:, :dims].T  # orthonormal rows
    centred = x64 - mean
    z = centred @ basis.T
    rest = np.einsum("ij,ij->i", centred, centred) - np.einsum("ij,ij->i", z, z)
    return np.hstack([z, np.sqrt(np.maximum(rest, 0.0))[:, None]])


def _kmeans_centres(w: np.ndarray, n_clusters: int, rng: np.random.Generator, iterations: int = 5,
                    sample: int = 50_000) -> np.ndarray:
    """A few Lloyd iterations on a sample: clusters only need to be compact, not optimal."""
    s = w[rng.choice(len(w), size=min(sample, len(w)), replace=False)]
    centres = s[rng.choice(len(s), size=n_clusters, replace=False)].copy()
    for _ in range(iterations):
        label = _nearest(s, centres)
        counts = np.bincount(label, minlength=n_clusters)
        sums = np.zeros_like(centres)
        np.add.at(sums, label, s)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
    return centres


def _nearest(w: np.ndarray, centres: np.ndarray, block: int = 4096) -> np.ndarray:
    """Index of the nearest centre of each point (float32 is plenty: clusters need not be exact)."""
    c32 = centres.astype(np.float32)
    c_half = 0.5 * np.einsum("ij,ij->i", c32, c32)
    out = np.empty(len(w), dtype=np.int64)
    for s in range(0, len(w), block):
        prod = w[s:s + block].astype(np.float32) @ c32.T
        prod -= c_half
        out[s:s + block] = np.argmax(prod, axis=1)
    return out


def _sq_dist(q, q_norm, y, y_norm) -> np.ndarray:
    d = q @ y.T
    d *= -2.0
    d += q_norm[:, None]
    d += y_norm[None, :]
    return d


def _merge(best_d, best_i, d, cand, keep):
    """Each query's `keep` nearest candidates so far, sorted by (squared distance, index)."""
    d = np.concatenate([best_d, d], axis=1)
    idx = np.concatenate([best_i, np.broadcast_to(cand, (len(best_i), len(cand)))], axis=1)
    if d.shape[1] > keep:
        part = np.argpartition(d, keep - 1, axis=1)[:, :keep]
        d, idx = np.take_along_axis(d, part, axis=1), np.take_along_axis(idx, part, axis=1)
    order = np.lexsort((idx, d), axis=1)
    return np.take_along_axis(d, order, axis=1), np.take_along_axis(idx, order, axis=1)
