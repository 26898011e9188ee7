"""The ESD engine: weights -> ESD -> power-law fit -> metrics.

==================  =====================================================================
``conventions``     the named analysis conventions (which matrices, scale, ESD, fit)
``checkpoint``      reading a state dict from a weight file
``layers``          the weight matrices of a model, state dict or file, and the layers skipped
``esd``             eigenvalues of ``W^T W``, batched and scheduled over cores
``powerlaw_fit``    the Clauset-Shalizi-Newman power-law fit of an ESD tail
``hill``            the Hill estimator of an ESD tail (TempBalance's ``PL_Alpha_Hill``)
``farms``           the ESD of equal-shape submatrix windows (FARMS) and its exponent
``metrics``         per-matrix metrics (:func:`~.metrics.analyze`) and per-model averages
``random_matrix``   the Marchenko-Pastur law and entry permutation, the random references
``parallel``        one thread per BLAS call; process pools that respect it
==================  =====================================================================

The engine imports nothing else of ``htsr_utils``; everything else builds on it.
"""
