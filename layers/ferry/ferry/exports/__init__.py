"""Exports: records of one data type read from the entity store and written as a zipped CSV."""
