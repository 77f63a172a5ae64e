"""`curate annotate`: choose which faces to ask people about, as a named task whose answers come
back into the answers store (`curate.votes`).

- `strategies`: the choice, pure on arrays (random, activelab, stratified; the random judges);
- `config`: `AnnotateConfig`;
- `stage`: `run_annotate` (read the candidates, choose, write the task, export its table);
- `labelstudio`: Label Studio as where a team answers (one project per task, its answers back
  into the store with `--load`), over its REST API;
- `commands`: the thin `curate annotate` command (its options: `AnnotateConfig`).
"""
