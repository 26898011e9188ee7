"""Where the compendium's files live (:mod:`.paths`), how they are written (:mod:`.fileio`), and
the one design of an on-disk cache entry (:mod:`.entries`)."""
