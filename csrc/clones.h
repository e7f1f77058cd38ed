/* FASTMLP_CLONES: compile a C loop once per instruction set and pick the variant at
 * load time (GCC's target_clones, x86-64 Linux), so that one wheel runs on any x86-64
 * CPU and uses the widest vectors it has.  Elsewhere the loop is compiled once.
 * setup.py passes -ffp-contract=off: no variant fuses a multiply and an add, so every
 * variant rounds alike and results do not depend on the CPU. */
#ifndef FASTMLP_CLONES_H
#define FASTMLP_CLONES_H
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FASTMLP_CLONES __attribute__((target_clones("avx2", "default")))
#define FASTMLP_CLONES_512 __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FASTMLP_CLONES
#define FASTMLP_CLONES_512
#endif
#endif
