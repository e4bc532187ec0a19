"""The one error type for bad input: its message names the file and the problem."""


class DataError(Exception):
    """Input data (records, CSVs, caches) is missing, malformed or unusable."""
