"""Label Studio as where a team answers: one project per task, one Label Studio task per face,
answers back into the answers store (`curate.votes.db`).

Spoken through Label Studio's public REST API with `requests`: the SDK (label-studio-sdk 2.x)
would move the project's numpy pin. The server is a team's own (LABEL_STUDIO_URL and
LABEL_STUDIO_API_KEY) or the local one of `scripts/label-studio.sh start`, whose URL, token and
media root this reads from LABEL_STUDIO_HOME (default `.labelstudio/` in the checkout).

- A project per (dataset, task), found again by its description (`marker`): a Choices config
  of the 7 classes + "not a face" + "unsure" on a large image; `maximum_annotations` = the
  annotators per face, with `overlap_cohort_percentage` 100 (every face gets them all).
- The faces are served from the server's local storage (a local-files storage on the folder
  that holds the task's images, under the server's document root); a re-send imports only the
  faces the project lacks. The model's suggestion goes as a prediction only when asked
  (`prefill`: it anchors people).
- Loading reads every annotation of the project; each becomes one answer (via `labelstudio`,
  the user's email or name, its time, key = project + annotation id + its last edit, so a
  re-load adds nothing and an edited annotation is a later answer of the same annotator).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from curate.core import schema
from curate.core.errors import CurateError, InputError
from curate.core.taxonomy import CLASSES

log = logging.getLogger(__name__)

URL_ENV, KEY_ENV, HOME_ENV = "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "LABEL_STUDIO_HOME"
PORT_ENV, MEDIA_ENV = "LABEL_STUDIO_PORT", "LABEL_STUDIO_MEDIA_ROOT"
START_HINT = ("start one with `scripts/label-studio.sh start`, or set LABEL_STUDIO_URL and "
              "LABEL_STUDIO_API_KEY for a team's server")
FROM_NAME, TO_NAME = "label", "image"
# what the annotator sees -> the answer stored (schema.ANSWER_LABELS), with its key
CHOICES: tuple[tuple[str, str, str], ...] = (
    *((c, c, str(i + 1)) for i, c in enumerate(CLASSES)),
    ("not a face", schema.NONFACE, "n"), ("unsure", schema.UNSURE, "u"))
ANSWER_OF = {shown: label for shown, label, _ in CHOICES} | {label: label for _, label, _ in CHOICES}
IMPORT_CHUNK = 1000  # tasks per import request
PAGE = 1000  # tasks per page when reading a project back
TIMEOUT_S = 120


class LabelStudioError(CurateError):
    """The server cannot be reached, refuses the token, or answers an error."""

    exit_code = 6


@dataclass(frozen=True)
class Server:
    """Where the server is and how to speak to it."""

    url: str
    key: str
    media_root: Path = Path("/")  # the server's LOCAL_FILES_DOCUMENT_ROOT


def home() -> Path:
    """The local server's state folder (scripts/label-studio.sh writes it)."""
    env = os.environ.get(HOME_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".labelstudio"


def server_from_env() -> Server:
    """The team's server (LABEL_STUDIO_URL + LABEL_STUDIO_API_KEY) or the local one's files;
    LabelStudioError naming the start script when there is no token."""
    h = home()

    def read(name: str) -> str:
        path = h / name
        return path.read_text().strip() if path.is_file() else ""

    port = os.environ.get(PORT_ENV)
    url = (os.environ.get(URL_ENV) or (f"http://127.0.0.1:{port}" if port else "")
           or read("url") or "http://127.0.0.1:8080")
    key = os.environ.get(KEY_ENV) or read("token")
    if not key:
        raise LabelStudioError(f"no Label Studio API token ({KEY_ENV} unset, no {h}/token): "
                               f"{START_HINT}")
    media = os.environ.get(MEDIA_ENV) or read("media_root") or "/"
    return Server(url.rstrip("/"), key, Path(media))


class Client:
    """A thin REST client: one session, errors as one line naming the fix."""

    def __init__(self, server: Server) -> None:
        import requests

        self.server = server
        self.session = requests.Session()
        self.session.headers["Authorization"] = self._auth(server.key)

    def _auth(self, key: str) -> str:
        if key.count(".") != 2:  # a legacy token
            return f"Token {key}"
        # a personal access token (a JWT refresh token): exchange it for an access token
        body = self._send("POST", "/api/token/refresh", json={"refresh": key})
        return f"Bearer {body['access']}"

    def _send(self, method: str, path: str, **kw: Any) -> Any:
        import requests

        url = self.server.url + path
        try:
            r = self.session.request(method, url, timeout=TIMEOUT_S, **kw)
        except requests.ConnectionError:
            raise LabelStudioError(f"no Label Studio answering at {self.server.url}: "
                                   f"{START_HINT}") from None
        if r.status_code in (401, 403):
            raise LabelStudioError(f"Label Studio at {self.server.url} refused the API token "
                                   f"({r.status_code}): {START_HINT}")
        if r.status_code >= 400:
            raise LabelStudioError(f"Label Studio {method} {path}: {r.status_code} "
                                   f"{' '.join(r.text.split())[:300]}")
        return r.json() if r.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self._send("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self._send("POST", path, json=body)

    def patch(self, path: str, body: Any) -> Any:
        return self._send("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self._send("DELETE", path)


def label_config() -> str:
    """The labelling interface: the face large (pixels kept sharp), one choice, keys 1-7 / n / u."""
    choices = "\n".join(f"    <Choice value={quoteattr(shown)} alias={quoteattr(label)} "
                        f"hotkey={quoteattr(key)}/>" for shown, label, key in CHOICES)
    return (f'<View>\n  <Image name="{TO_NAME}" value="$image" width="384px" maxWidth="100%" '
            f'smoothing="false" zoom="true"/>\n'
            f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single-radio" '
            f'showInline="true" required="true">\n{choices}\n  </Choices>\n</View>')


def marker(dataset: str, task: str) -> str:
    """A project's description: how `curate` finds the project of a task again."""
    return f"fer-curate task {task} of dataset {dataset}"


def projects(client: Client) -> Iterator[dict[str, Any]]:
    """Every project the token sees (paged)."""
    page = 1
    while True:
        body = client.get("/api/projects", page=page, page_size=100)
        rows = body["results"] if isinstance(body, dict) else body
        yield from rows
        if not isinstance(body, dict) or not body.get("next"):
            return
        page += 1


def find_project(client: Client, dataset: str, task: str) -> dict[str, Any] | None:
    want = marker(dataset, task)
    return next((p for p in projects(client) if p.get("description") == want), None)


def project_settings(annotators: int, prefill: bool) -> dict[str, Any]:
    """What `--annotators` and `--prefill` set on a project."""
    return {"maximum_annotations": annotators, "overlap_cohort_percentage": 100,
            "show_collab_predictions": prefill, "show_skip_button": True}


def ensure_project(client: Client, dataset: str, task: str, annotators: int,
                   prefill: bool) -> tuple[dict[str, Any], bool]:
    """The task's project, created or brought to these settings; (project, created)."""
    settings = project_settings(annotators, prefill)
    found = find_project(client, dataset, task)
    if found is None:
        body = {"title": f"{task} ({dataset})"[:50], "description": marker(dataset, task),
                "label_config": label_config(), **settings,
                "expert_instruction": "Which expression? Keys 1-7 choose a class, N: not a "
                                      "face, U: unsure; submit with Ctrl+Enter."}
        return client.post("/api/projects", body), True
    if any(found.get(k) != v for k, v in settings.items()):
        found = client.patch(f"/api/projects/{found['id']}", settings)
    return found, False


def ensure_storage(client: Client, project: int, folder: Path) -> None:
    """A local-files storage on `folder` (the server serves only files under one)."""
    have = client.get("/api/storages/localfiles", project=project) or []
    if any(Path(s.get("path") or "/nowhere") in (folder, *folder.parents) for s in have):
        return
    client.post("/api/storages/localfiles", {"project": project, "path": str(folder),
                                             "use_blob_urls": False, "title": "faces"})


def image_url(filepath: str, media_root: Path) -> str:
    """The URL the server serves a local image at; InputError when it is outside its root."""
    path = Path(filepath).resolve()
    try:
        rel = path.relative_to(media_root.resolve())
    except ValueError:
        raise InputError(f"{path} is outside the Label Studio server's media root {media_root}: "
                         f"restart it with {MEDIA_ENV}=<a folder above the dataset's media> "
                         "(scripts/label-studio.sh stop; ... start)") from None
    return "/data/local-files/?d=" + quote(rel.as_posix())


def project_tasks(client: Client, project: int) -> list[dict[str, Any]]:
    """Every task of the project with its annotations (paged)."""
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        body = client.get("/api/tasks", project=project, page=page, page_size=PAGE, fields="all")
        rows = body.get("tasks", []) if isinstance(body, dict) else body
        out.extend(rows)
        total = body.get("total", len(out)) if isinstance(body, dict) else len(out)
        if not rows or len(out) >= total:
            return out
        page += 1


@dataclass
class SendResult:
    """What a send did: the project, faces imported now, faces already there."""

    project: int
    url: str
    created: bool = False
    sent: int = 0
    already: int = 0
    seconds: float = 0.0


def send_task(ds: Any, task: str, server: Server, *, annotators: int = 1,
              prefill: bool = False) -> SendResult:
    """The task's faces as Label Studio tasks in the task's project (created when missing);
    only the faces the project lacks are imported."""
    t0 = time.perf_counter()
    view = ds.match({schema.ASK_TASK: task})
    have = ds.get_field_schema()
    names = ["id", schema.FILEPATH, schema.ASK_ROLE] + (
        [schema.SUGGESTED_LABEL] if prefill and schema.SUGGESTED_LABEL in have else [])
    cols = dict(zip(names, view.values(names), strict=True))
    if not cols["id"]:
        raise InputError(f"task {task!r} has no faces in dataset {ds.name!r}")
    client = Client(server)
    project, created = ensure_project(client, ds.name, task, annotators, prefill)
    pid = int(project["id"])
    urls = [image_url(p, server.media_root) for p in cols[schema.FILEPATH]]
    folder = Path(os.path.commonpath([str(Path(p).resolve().parent)
                                      for p in cols[schema.FILEPATH]]))
    ensure_storage(client, pid, folder)
    present = {t["data"].get("sample_id") for t in project_tasks(client, pid)}
    suggested = cols.get(schema.SUGGESTED_LABEL, [None] * len(urls))
    tasks = [_task(i, url, role, s if prefill else None)
             for i, url, role, s in zip(cols["id"], urls, cols[schema.ASK_ROLE], suggested,
                                        strict=True) if i not in present]
    for start in range(0, len(tasks), IMPORT_CHUNK):
        client.post(f"/api/projects/{pid}/import", tasks[start:start + IMPORT_CHUNK])
    log.info("task %s: %d faces imported into project %d (%d there already)", task,
             len(tasks), pid, len(present))
    return SendResult(project=pid, url=f"{server.url}/projects/{pid}/data", created=created,
                      sent=len(tasks), already=len(cols["id"]) - len(tasks),
                      seconds=round(time.perf_counter() - t0, 3))


def _task(sample_id: str, url: str, role: str | None, suggestion: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"data": {"image": url, "sample_id": sample_id, "role": role or ""}}
    label = getattr(suggestion, "label", suggestion)
    if label in ANSWER_OF:
        value = {"choices": [ANSWER_OF[label]]}
        out["predictions"] = [{"model_version": "fer-curate", "result": [
            {"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices", "value": value}]}]
    return out


@dataclass
class Annotations:
    """A project's annotations as answers, and what could not be one."""

    incoming: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    annotations: int = 0  # annotations read (not cancelled)
    skipped: int = 0  # cancelled (skipped) or empty annotations
    unreadable: int = 0  # a choice that is no answer label
    unknown_tasks: int = 0  # tasks naming no sample of the task
    server_ids: set[str] = field(default_factory=set)


def annotator_names(client: Client) -> dict[int, str]:
    """User id -> email (or username), for the answers' annotator."""
    try:
        users = client.get("/api/users/") or []
    except LabelStudioError as e:  # a team server may hide its users: the annotations say
        log.warning("Label Studio users unreadable (%s); annotators from the annotations", e)
        return {}
    return {int(u["id"]): u.get("email") or u.get("username") or f"user{u['id']}" for u in users}


def read_annotations(tasks: list[dict[str, Any]], members: set[str], names: dict[int, str],
                     project: int, task: str) -> Annotations:
    """The answers in a project's tasks (`members`: the sample ids of the curate task)."""
    from curate.votes.answers import answer_key, make_answer

    out = Annotations()
    for t in tasks:
        sid = (t.get("data") or {}).get("sample_id")
        if sid not in members:
            out.unknown_tasks += 1
            continue
        out.server_ids.add(sid)
        for a in t.get("annotations") or []:
            label = _choice(a)
            if a.get("was_cancelled") or label is None:
                out.skipped += 1
                continue
            out.annotations += 1
            if label not in schema.ANSWER_LABELS:
                out.unreadable += 1
                continue
            at = a.get("updated_at") or a.get("created_at")
            out.incoming.setdefault(sid, []).append(make_answer(
                annotator=_who(a, names), label=label, via=schema.LABELSTUDIO_VIA,
                at=_time(at), task=task, key=answer_key(schema.LABELSTUDIO_VIA, project,
                                                        a["id"], at)))
    return out


def _choice(annotation: dict[str, Any]) -> str | None:
    for r in annotation.get("result") or []:
        if r.get("type") == "choices" and (r.get("value") or {}).get("choices"):
            shown = r["value"]["choices"][0]
            return ANSWER_OF.get(shown, shown)
    return None


def _who(annotation: dict[str, Any], names: dict[int, str]) -> str:
    by = annotation.get("completed_by")
    if isinstance(by, dict):
        return by.get("email") or by.get("username") or f"user{by.get('id')}"
    if by is not None and int(by) in names:
        return names[int(by)]
    created = (annotation.get("created_username") or "").strip()  # " email, id"
    return created.rsplit(",", 1)[0].strip() or f"user{by}"


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@dataclass
class LoadResult:
    """What a load found and wrote, per curate task."""

    task: str
    project: int
    faces: int = 0  # faces of the curate task
    answered: int = 0  # of them, with at least one annotation on the server
    annotations: int = 0
    added: int = 0  # answers new to the store (a re-load: 0)
    deleted: int = 0  # faces of the task whose Label Studio task is gone
    skipped: int = 0  # cancelled or empty annotations
    unreadable: int = 0
    unknown_tasks: int = 0
    seconds: float = 0.0


def load_task(ds: Any, task: str, server: Server, client: Client | None = None,
              names: dict[int, str] | None = None) -> LoadResult:
    """Every annotation of the task's project into the answers store (idempotent)."""
    from curate.votes import db

    t0 = time.perf_counter()
    client = client or Client(server)
    project = find_project(client, ds.name, task)
    if project is None:
        raise InputError(f"task {task!r} of dataset {ds.name!r} has no project on "
                         f"{server.url}: send it with `curate annotate --backend labelstudio "
                         f"--task {task} --budget N`")
    pid = int(project["id"])
    members = set(ds.match({schema.ASK_TASK: task}).values("id"))
    names = annotator_names(client) if names is None else names
    got = read_annotations(project_tasks(client, pid), members, names, pid, task)
    added = db.add(ds, got.incoming).answers_added if got.incoming else 0
    result = LoadResult(task=task, project=pid, faces=len(members), answered=len(got.incoming),
                        annotations=got.annotations, added=added,
                        deleted=len(members - got.server_ids), skipped=got.skipped,
                        unreadable=got.unreadable, unknown_tasks=got.unknown_tasks,
                        seconds=round(time.perf_counter() - t0, 3))
    if result.deleted:
        log.warning("task %s: %d faces have no task in project %d any more (deleted on the "
                    "server); their answers already loaded are kept", task, result.deleted, pid)
    return result


def sent_tasks(ds: Any, client: Client) -> list[str]:
    """The dataset's curate tasks that have a project on the server, in name order."""
    if schema.ASK_TASK not in ds.get_field_schema():
        return []
    local = {t for t in ds.distinct(schema.ASK_TASK) if t}
    markers = {p.get("description") for p in projects(client)}
    return sorted(t for t in local if marker(ds.name, t) in markers)
