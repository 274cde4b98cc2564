"""The ``ekraf`` command: run, watch and repair the platform (see ``ekraf --help``)."""
