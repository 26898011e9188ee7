"""The paper's analysis, built on the engine and the zoo.

==================  ===================================================================
``reference_data``  reported accuracies and the authors' published values (``data/``)
``audit``           the published counts and shapes checked against the architectures
``checks``          the checks of computed values against the authors' published numbers
``model_sets``      the quick subsets and paper families of notebooks 01-08
``cache``           the on-disk results cache of per-matrix tables and ESDs
``many``            many models, sequentially or on any executor
``regression``      OLS and Kendall tau of accuracy on a metric, per series
``pl_norm``         the power-law / norm relation: exact integrals, the draft's limit
``tables``          paper-style tables, Markdown, CSV
``figures``         figure styles and the figures several notebooks draw
==================  ===================================================================
"""
