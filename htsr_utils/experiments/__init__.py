"""Models trained here, offline, and the experiments of notebooks 09 to 12.

``datasets``, ``architectures`` and ``training`` train and cache the models; ``analysis``
says what the engine makes of them; ``sweep`` (notebook 09: MLPs that differ in one training
knob), ``permutation`` (10) and ``series`` (11: architecture series) hold the code that serves
one experiment notebook each.  ``recording`` records per-layer metrics during training into a
run folder (notebook 12), ``checkpoint_series`` writes the same run from a folder of saved
checkpoints.
"""

from .checkpoint_series import checkpoint_series
from .recording import RecordedRun, RunFormatError, TrainingRecorder, load_run

__all__ = ["RecordedRun", "RunFormatError", "TrainingRecorder", "checkpoint_series", "load_run"]
