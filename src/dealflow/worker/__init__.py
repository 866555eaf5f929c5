"""The worker: the scheduler that runs the registered jobs (see :mod:`dealflow.worker.jobs`)."""
