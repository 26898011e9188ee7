"""Where the compendium's files live (:mod:`.paths`) and how they are written (:mod:`.fileio`)."""
