"""One module per stage, named after the stage; each defines `STAGE` (see pipeline.stage)."""
