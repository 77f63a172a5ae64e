"""`curate votes`: the answers store. Every human answer is one record on its sample
(`schema.ANSWERS`); FER+ ingest, `curate votes import` and (later) the App and Label Studio
write it, and the vote fields the label audit and `train compare` read are derived from it.

- `answers`: the store's logic, pure on lists (keys, latest answer per annotator, derived
  fields, agreement with the consensus);
- `db`: the one adapter to the database (atomic, idempotent appends in batches);
- `importers`: tables of answers (any CSV with a sample column, FER+'s own format);
- `stage`: `import_answers` and `answer_status`, the two commands' entry functions;
- `commands`: the thin `curate votes` commands.

Nothing is imported here: `curate.ingest.ferplus` imports `curate.votes.db`, and the importers
import it back.
"""
