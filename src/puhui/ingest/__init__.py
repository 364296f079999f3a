"""Ingestion: sources, batches, validation, quality reports, synthetic city generator."""
