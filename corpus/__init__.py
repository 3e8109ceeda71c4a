"""The training corpus: permissively licensed code fetched by the registries' own clients,
listed in a manifest with each file's licence, deduplicated, one package in ten held out, and no
public benchmark in it (``manifest.py``, ``registries.py``, ``benchmarks.py``, ``files.py``)."""
