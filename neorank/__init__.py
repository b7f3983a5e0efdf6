"""NeoRank: somatic variants to ranked MHC class I neoantigen candidates.

Research use only. Nothing this package writes is a clinical claim.

Importing the package pins numpy's CPU kernels (before numpy loads, in this process and
the processes it starts): numpy picks its SIMD kernels for transcendental functions by
CPU, and its AVX-512 kernels give other last bits than its AVX2 (x86-64-v3) ones, which
MHCflurry's ensemble mean and NeoRank's scores go through. So on an x86-64 machine every
NeoRank process runs numpy with :data:`NUMPY_DISABLED_KERNELS` turned off, unless the
environment already chooses (``NPY_DISABLE_CPU_FEATURES`` or ``NPY_ENABLE_CPU_FEATURES``)
or numpy was imported first; :func:`neorank.models.pin_numerics` checks the result for
the portable arithmetic.
"""

import os
import platform
import sys

__version__ = "0.1.0"

__all__ = ["NUMPY_DISABLED_KERNELS", "__version__"]

#: numpy's x86-64 kernel groups above x86-64-v3 (numpy 2.4's names), turned off through
#: ``NPY_DISABLE_CPU_FEATURES`` so that an AVX-512 CPU runs numpy's AVX2 kernels as an
#: AVX2-only CPU does (on an AMD EPYC with AVX-512 they changed 16 of the 46 files
#: whose hashes tests/data/demo_outputs.sha256 lists).
NUMPY_DISABLED_KERNELS = ("X86_V4", "AVX512_ICL", "AVX512_SPR")

if ("numpy" not in sys.modules and platform.machine().lower() in ("x86_64", "amd64")
        and not {"NPY_DISABLE_CPU_FEATURES", "NPY_ENABLE_CPU_FEATURES"} & os.environ.keys()):
    os.environ["NPY_DISABLE_CPU_FEATURES"] = " ".join(NUMPY_DISABLED_KERNELS)
