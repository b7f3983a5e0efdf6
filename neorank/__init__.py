"""NeoRank: somatic variants to ranked MHC class I neoantigen candidates.

Research use only. Nothing this package writes is a clinical claim.

Importing the package pins numpy's CPU kernels (before numpy loads, in this process and
the processes it starts). numpy picks its SIMD kernels for transcendental functions by
CPU, and its AVX-512 kernels give other last bits than its AVX2 (x86-64-v3) ones;
MHCflurry's ensemble mean and NeoRank's scores go through them. numpy's OpenBLAS picks
its matrix kernels by CPU too, and its AVX-512 (SkylakeX) kernels give other last bits
than its AVX2 (Haswell) ones in MHCflurry's presentation score. So on an x86-64 machine
every NeoRank process runs numpy with :data:`NUMPY_DISABLED_KERNELS` turned off and, on
a CPU with AVX2 and FMA, OpenBLAS with its :data:`OPENBLAS_CORETYPE` kernels - unless the
environment already chooses (``NPY_DISABLE_CPU_FEATURES``, ``NPY_ENABLE_CPU_FEATURES``,
``OPENBLAS_CORETYPE``) or numpy was imported first. :func:`neorank.models.pin_numerics`
checks the result for the portable arithmetic.
"""

import os
import platform
import sys

__version__ = "0.1.0"

__all__ = ["NUMPY_DISABLED_KERNELS", "OPENBLAS_CORETYPE", "__version__", "cpu_flags"]

#: numpy's x86-64 kernel groups above x86-64-v3 (numpy 2.4's names), turned off through
#: ``NPY_DISABLE_CPU_FEATURES`` so that an AVX-512 CPU runs numpy's AVX2 kernels as an
#: AVX2-only CPU does (on an AMD EPYC with AVX-512 they changed 16 of the 46 files
#: whose hashes tests/data/demo_outputs.sha256 lists).
NUMPY_DISABLED_KERNELS = ("X86_V4", "AVX512_ICL", "AVX512_SPR")
#: numpy's OpenBLAS kernels on every CPU with AVX2 and FMA (what AVX2 CPUs and AMD's
#: AVX-512 ones pick; Intel's AVX-512 CPUs would pick SkylakeX kernels, which changed
#: the presentation scores of 3,000 peptides in their last bits).
OPENBLAS_CORETYPE = "Haswell"


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux reports them (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


if "numpy" not in sys.modules and platform.machine().lower() in ("x86_64", "amd64"):
    if not {"NPY_DISABLE_CPU_FEATURES", "NPY_ENABLE_CPU_FEATURES"} & os.environ.keys():
        os.environ["NPY_DISABLE_CPU_FEATURES"] = " ".join(NUMPY_DISABLED_KERNELS)
    if "OPENBLAS_CORETYPE" not in os.environ and {"avx2", "fma"} <= cpu_flags():
        os.environ["OPENBLAS_CORETYPE"] = OPENBLAS_CORETYPE
