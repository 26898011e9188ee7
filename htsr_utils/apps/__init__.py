"""What users run: the explorer (:mod:`.explorer`), the ``htsr`` command (:mod:`.cli`) and
``htsr reproduce`` (:mod:`.reproduce`)."""
