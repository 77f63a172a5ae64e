"""`curate export`: a view written as imagefolder, fer2013-csv, fiftyone or hf, with
manifest.csv and CARD.md (exporter.py, formats.py, card.py). Command in commands.py."""
