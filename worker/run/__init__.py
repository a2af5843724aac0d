"""The worker process: its loop, the handler processes it supervises, how attempts end, and its command line."""
