"""The model zoo of the paper.

==============  ===========================================================================
``registry``    every model's name, family, library and weights; the snapshots (no torch)
``paper_era``   the pytorchcv files and architectures SDM 2020 analyzed (no torch)
``files``       pretrained weight files: location, checksum, download, verification
``manifest``    the list of every weight file, and a download script
``build``       :func:`~.build.load_model`: an architecture with random, pretrained or local
                weights
==============  ===========================================================================
"""
