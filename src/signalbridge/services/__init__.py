"""Use cases: the pipeline steps and management operations, called by web and jobs."""
