"""Response bodies to records: compiled JSONPath, and bodies straight to Arrow."""
