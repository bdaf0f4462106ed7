"""Bulk spreadsheet import: the pure core (reading, mapping, cell parsing, row validation).

No database and no Flask app here, so every rule is unit-tested on plain data; the database
stage (references, upsert, batches) and the screens build on these modules.
"""
