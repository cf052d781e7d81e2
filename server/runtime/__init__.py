"""The server runtime: the job queue, workers, the scheduler of continuous agents,
cancellation, the kill switch, alerts and agent status."""
