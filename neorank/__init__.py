"""NeoRank: somatic variants to ranked MHC class I neoantigen candidates.

Research use only. Nothing this package writes is a clinical claim.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
