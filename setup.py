"""Builds the Cython core: every gateway/_core/*.pyx becomes one extension.

Set GATEWAY_ANNOTATE=1 to also write Cython's HTML annotations beside the
sources (yellow lines are where the C code calls back into Python).
"""
import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

CORE = os.path.join("gateway", "_core")
ANNOTATE = os.environ.get("GATEWAY_ANNOTATE", "") not in ("", "0")

extensions = [
    Extension(
        "gateway._core." + os.path.splitext(os.path.basename(path))[0],
        [path],
        include_dirs=[CORE],
        extra_compile_args=["-O3", "-Wno-unused-function"],
    )
    for path in sorted(glob.glob(os.path.join(CORE, "*.pyx")))
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "embedsignature": True,
        },
        annotate=ANNOTATE,
        # a compile error in any .pyx stops the build instead of shipping a partial core
        quiet=False,
    ),
)
