"""Thin Dagster orchestration: wires ingest/ (Python) and dbt_project/ (SQL) into one asset graph."""
