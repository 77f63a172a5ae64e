"""`curate restore`: GFPGAN (via spandrel) or classical upsampling of the faces, resumable, with
an expression-preservation check. The entry point is `restore(RestoreConfig(...))`."""

from curate.restore.stage import RestoreConfig, RestoreResult, restore

__all__ = ["RestoreConfig", "RestoreResult", "restore"]
