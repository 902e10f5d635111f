"""The clinic app core: settings, database, services, jobs, storage and HTTP routes."""
