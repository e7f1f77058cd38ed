# Inverted dropout with a counter-based mask: nothing random is stored.
#
#   keep(key, step, layer, row, unit)  =  u32(key, step, layer, row, unit) >= thr
#   A_dropped := A ⊙ m,   m = keep / (1 - p)        (training only)
#   δz        := (G ⊙ act'(A)) ⊙ m                   (the same m, recomputed)
#
# The 32-bit uniform u32 is a pure function of its five integer arguments, built
# from SplitMix64 (Steele, Lea & Flood 2014; Vigna's constants):
#
#   mix(z)     z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27;
#              z *= 0x94D049BB133111EB; z ^= z >> 31          (a bijection of 64 bits)
#   stream     s = mix(mix(mix(key) + step) + layer)          one per (key, step, layer)
#   row key    r = mix(s + (row + 1)·γ)                       γ = 0x9E3779B97F4A7C15
#   unit       w = mix(r + (unit // 2 + 1)·γ);  u32 = low 32 bits of w for an even
#              unit, high 32 bits for an odd one
#
# so each row's units read one SplitMix64 sequence seeded by the row key, two units
# per 64-bit draw.  thr = round(p · 2³²) (at most 2³² - 1): a unit is kept with
# probability 1 - thr / 2³² = 1 - p to within 2⁻³³.  Being a function of the row
# index within the batch and of nothing else, the mask is the same whatever the
# BLAS thread count, and the δ kernel recomputes it rather than reading a stored one.
#
# Header-style (`cdef inline`), compiled into each module that cimports it.

from libc.stdint cimport int64_t, uint32_t, uint64_t
from _blas cimport floating

cdef struct Drop:
    uint64_t stream     # s for this (key, step, layer)
    uint32_t thr        # drop when u32 < thr
    double scale        # 1 / (1 - p)


cdef inline uint64_t _mix(uint64_t z) noexcept nogil:
    """SplitMix64's output function."""
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline uint64_t _stream(uint64_t key, uint64_t step, uint64_t layer) noexcept nogil:
    return _mix(_mix(_mix(key) + step) + layer)


cdef inline int64_t _kept(uint64_t u, uint64_t thr) noexcept nogil:
    """1 if the 32-bit u >= thr, else 0, by arithmetic: (u - thr) wraps below zero,
    setting the top bit, exactly when u < thr.  A comparison here would be compiled
    to a branch, mispredicted on every other unit at p = 0.5 (measured 2-4× slower)."""
    return <int64_t>(1 - ((u - thr) >> 63))


cdef inline void _drop_row(const floating* src, floating* dst, Py_ssize_t n,
                           uint64_t stream, Py_ssize_t row, uint32_t thr,
                           floating scale) noexcept nogil:
    """dst := src ⊙ m for one row of n units (dst may alias src)."""
    cdef uint64_t g = <uint64_t>0x9E3779B97F4A7C15ULL
    cdef uint64_t low = <uint64_t>0xFFFFFFFFULL
    cdef uint64_t state = _mix(stream + (<uint64_t>row + 1) * g)
    cdef uint64_t w
    cdef Py_ssize_t j
    for j in range(0, n - 1, 2):
        state += g
        w = _mix(state)
        dst[j] = src[j] * (scale * <floating>_kept(w & low, thr))
        dst[j + 1] = src[j + 1] * (scale * <floating>_kept(w >> 32, thr))
    if n % 2:
        w = _mix(state + g)
        dst[n - 1] = src[n - 1] * (scale * <floating>_kept(w & low, thr))
