"""Readers of import files, each a stream of records in bounded memory."""
