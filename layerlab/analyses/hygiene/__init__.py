"""Bloat: visible files an image rarely needs (package caches, bytecode, docs, ...), by the categories of
one rules table, bloat_rules.csv (bloat.py: ``bloat``, ``bloat_files``, ``bloat_rules``)."""
