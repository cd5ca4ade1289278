"""Local emulators of the vendor APIs: the embedded default estate. Speaks vendor wire formats only."""
