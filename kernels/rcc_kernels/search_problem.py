"""The fused Gaussian candidate search as a problem: its selection rules, its inputs, its result.

For chunk ``c`` with ``d_c`` dimensions, candidate ``k`` is the standard normal vector ``n_k`` at
coordinates ``0 .. d_c - 1`` of the chunk's candidate stream (key ``cand_keys[c]``, the frozen
mapping of ``docs/randomness.md``), and its log importance weight, up to a constant the caller
knows, is the quadratic form

    log w_k = sum_i lin_i n_ki + quad_i n_ki^2.

For the equal-variance case (DiffC) ``quad`` is zero and ``lin`` is the standardised mean
difference, so ``log w_k`` is one dot product. The selection rules, all of the form
``argmin_k log A_k - log w_k`` over ``k < n_candidates`` with ``E_k`` the Exp(1) value of candidate
``k`` in the chunk's arrival stream (key ``arr_keys[c]``, encoder-only):

* ``PFR``: ``A_k = E_0 + ... + E_k``, the arrival times of a unit-rate Poisson process: the
  Poisson functional representation (Li & El Gamal 2018) truncated to ``n_candidates``;
* ``ORC``: ``A_k = sum_{j <= k} E_j / (N - j)``, the order statistics of ``N`` i.i.d. Exp(1) by
  Renyi's representation: ordered random coding (Theis & Yosri 2022);
* ``MRC``: ``A_k = E_k``, i.e. the Gumbel-max trick sampling ``k`` with probability proportional to
  ``w_k``: minimal random coding (Havasi et al. 2019).

With a finite ``n_candidates`` every rule is approximate: the selected candidate follows the target
only up to a bias that shrinks as ``log n_candidates`` grows beyond the chunk's KL (PFR would be
exact only untruncated). The argmin itself is exact: every backend returns the same index (see
:mod:`rcc_kernels.search`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rcc_kernels.errors import InvalidTypeError

__all__ = ["MRC", "ORC", "PFR", "RULES", "SearchProblem", "SearchResult"]

PFR = 0
ORC = 1
MRC = 2
RULES = {"pfr": PFR, "orc": ORC, "mrc": MRC}


@dataclass(frozen=True)
class SearchProblem:
    """One call's search: chunk-contiguous coefficients and one candidate/arrival key per chunk."""

    lin: np.ndarray  # (D,) float64, chunk c occupies lin[offsets[c]:offsets[c + 1]]
    quad: np.ndarray | None  # (D,) float64 or None for the equal-variance case
    offsets: np.ndarray  # (C + 1,) int64, non-decreasing, offsets[0] == 0, offsets[-1] == D
    cand_keys: np.ndarray  # (C, 2) uint32
    arr_keys: np.ndarray  # (C, 2) uint32
    n_candidates: int
    rule: int

    def __post_init__(self) -> None:
        # Kernels need contiguous arrays of exact dtypes; normalise once here.
        for name, dtype in (("lin", np.float64), ("quad", np.float64), ("offsets", np.int64),
                            ("cand_keys", np.uint32), ("arr_keys", np.uint32)):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, np.ascontiguousarray(value, dtype=dtype))
        c = self.cand_keys.shape[0]
        if self.offsets.shape != (c + 1,) or self.arr_keys.shape != (c, 2):
            raise ValueError("offsets, cand_keys and arr_keys disagree on the number of chunks")
        if self.offsets[0] != 0 or self.offsets[-1] != self.lin.size or np.any(np.diff(self.offsets) < 1):
            raise ValueError("offsets must start at 0, end at the dimension, and leave no chunk empty")
        if self.quad is not None and self.quad.shape != self.lin.shape:
            raise ValueError("quad must have the shape of lin")
        n = self.n_candidates
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
            raise InvalidTypeError(f"n_candidates must be an integer, got {self.n_candidates!r}")
        if not 1 <= self.n_candidates < 2**62:
            raise ValueError(f"n_candidates must be in [1, 2**62), got {self.n_candidates}")
        if self.rule not in RULES.values():
            raise ValueError(f"rule must be one of {RULES}, got {self.rule}")
        quad_ok = self.quad is None or bool(np.all(np.isfinite(self.quad)))
        if not np.all(np.isfinite(self.lin)) or not quad_ok:
            raise ValueError("coefficients must be finite")


@dataclass(frozen=True)
class SearchResult:
    """Per chunk: the selected index, its score ``log A_k - log w_k`` and ``log w_k``."""

    index: np.ndarray  # (C,) int64
    score: np.ndarray  # (C,) float64
    log_weight: np.ndarray  # (C,) float64
