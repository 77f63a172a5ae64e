"""The last curation stages: `curate balance` (balancing.py, planner in curate/balance.py) and
`curate export` (exporter.py, formats.py, card.py). Commands in commands.py."""
