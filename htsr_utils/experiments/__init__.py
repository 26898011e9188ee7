"""Code that serves one experiment notebook each; not part of the HT-SR engine."""
