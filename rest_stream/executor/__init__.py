"""The executor's part: an input partition read into Arrow record batches."""
