"""The driver's parts of a stream: the stream list, the poll schedule, end finding, the walk
cache and planning."""
