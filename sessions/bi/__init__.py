"""The BI message pipeline: router -> sql (a run on the engine) -> visualization -> insights."""
