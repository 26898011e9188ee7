"""Models trained here, offline, and the experiments of notebooks 09, 10 and 11.

``datasets``, ``architectures`` and ``training`` train and cache the models;
``trained_family`` (notebook 09), ``permutation`` (10) and ``series`` (11) hold the code that
serves one experiment notebook each.
"""
