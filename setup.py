"""Build fastmlp's compiled modules: csrc/_kernels.pyx, _optim.pyx, _search.pyx -> fastmlp._kernels, ._optim, ._search.

FASTMLP_DEBUG=1 at build time turns Cython's bounds/wraparound checks back on and
makes every kernel entry point re-check the shapes, dtypes and contiguity of the
arrays it is handed, for hunting bugs.  Release builds use neither, nor
-ffast-math or -march=native.
"""
import glob
import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTMLP_DEBUG", "0") not in ("", "0")

extensions = [
    Extension(
        f"fastmlp.{name}",
        [f"csrc/{name}.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                       ("FASTMLP_DEBUG", "1" if DEBUG else "0")],
        # libm need not set errno (so sqrt becomes one vector instruction); this
        # changes no result and no floating-point state, unlike -ffast-math
        extra_compile_args=["-fno-math-errno", "-ffp-contract=off"],
        # the C headers (sgemm.h includes the others): a change rebuilds every module
        depends=sorted(glob.glob("csrc/*.h")),
    )
    for name in ("_kernels", "_optim", "_search")
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=["csrc"],
        compiler_directives={
            "language_level": 3,
            "boundscheck": DEBUG,
            "wraparound": DEBUG,
            "initializedcheck": DEBUG,
            "cdivision": True,
        },
    )
)
