"""Models trained here, offline, and the experiments of notebooks 09, 10 and 11.

``datasets``, ``architectures`` and ``training`` train and cache the models; ``analysis``
says what the engine makes of them; ``sweep`` (notebook 09: MLPs that differ in one training
knob), ``permutation`` (10) and ``series`` (11: architecture series) hold the code that serves
one experiment notebook each.
"""
