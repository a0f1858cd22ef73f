"""Device codecs: pure bytes <-> frames. Standard library only."""
