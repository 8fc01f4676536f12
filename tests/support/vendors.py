"""Local stand-ins for HubSpot, Klaviyo and Salesforce on 127.0.0.1, for tests and benchmarks.

Each validates every request (path, method, parameters, body) and every answer it gives against
the vendor's published OpenAPI spec (tests/fixtures/vendor_specs), checks the credentials the way
the vendor does, enforces the vendor's batch size and (optionally) its rate limit, keeps what it
was sent, and can misbehave on demand: 429 storms with Retry-After, 5xx, slow answers,
per-record errors, whole-batch rejections and dropped connections.

Nothing here is used by a real sync; it needs the dev dependencies (openapi-core).
"""

from __future__ import annotations

import abc
import itertools
import json
import logging
import os
import socket
import threading
import time
import uuid
import warnings
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.exceptions import OpenAPIError
from werkzeug.exceptions import NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from nextsale.config import REPO_ROOT

# the specs as fixtures of the tests (tests/fixtures/vendor_specs/README.md says where from)
SPECS_DIR = Path(
    os.environ.get("NEXTSALE_SPECS_DIR") or REPO_ROOT / "tests" / "fixtures" / "vendor_specs"
)
log = logging.getLogger(__name__)
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request is noise here
# openapi-core cannot model the vendors' auth schemes; the servers check credentials themselves
warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)


def iso_now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def load_spec(
    path: Path, keep: tuple[str, ...] | None = None, validate: bool = True
) -> OpenAPI | None:
    """The spec with its servers pointed at us; `keep` narrows a large spec to the paths used.
    None where the specs are not checked out beside the repository (a bare CI machine): the
    server then answers like the vendor without checking requests against the spec."""
    if not path.exists():
        log.warning("no %s: requests are not checked against the vendor's spec", path)
        return None
    spec = json.loads(path.read_text()) if path.suffix == ".json" else _yaml(path)
    if keep:
        spec["paths"] = {p: v for p, v in spec["paths"].items() if p.startswith(keep)}
    spec["servers"] = [{"url": "/"}]
    config = Config() if validate else Config(spec_validator_cls=None)
    return OpenAPI.from_dict(spec, config=config)


def _yaml(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())


@dataclass
class Faults:
    """Misbehaviour to come. Counts go down as requests arrive."""

    throttle: int = 0  # answer 429 with Retry-After to this many requests
    retry_after: float = 0.2
    errors: int = 0  # answer this many with `error_status`
    error_status: int = 503
    slow: int = 0  # delay this many answers by `slow_seconds`
    slow_seconds: float = 0.5
    drop: int = 0  # close the connection without an answer, before applying anything
    stuck_jobs: bool = False  # asynchronous jobs never finish (Klaviyo imports)
    bad_records: set[str] = field(default_factory=set)  # keys the vendor refuses one by one
    poison_records: set[str] = field(default_factory=set)  # keys that make it refuse a batch
    on_request: Callable[[int], None] | None = None  # called with the request's number


@dataclass
class Received:
    method: str
    path: str
    status: int
    applied: list[str] = field(default_factory=list)
    at: float = 0.0  # when it arrived (time.monotonic)
    seconds: float = 0.0  # how long the server took to answer


class RateLimit:
    def __init__(self, limits: tuple[tuple[int, float], ...]):
        self.limits = limits
        self.times: deque[float] = deque(maxlen=max(n for n, _ in limits))
        self.lock = threading.Lock()

    def allow(self) -> float | None:
        """None if the request may go now, else the seconds until it could."""
        with self.lock:
            now = time.monotonic()
            for n, window in self.limits:
                if len(self.times) >= n and now - self.times[-n] < window:
                    return self.times[-n] + window - now
            self.times.append(now)
            return None


class NoDelayHandler(WSGIRequestHandler):
    """Answers go out at once: with Nagle's algorithm, an answer's body waits for the client to
    acknowledge its headers, and a delayed ACK makes that 40 ms a request."""

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class DroppedConnection(Exception):
    pass


class VendorServer(abc.ABC):
    """A threaded HTTP server; subclasses add the vendor's routes, auth and answers."""

    routes: list[Rule]

    def __init__(
        self,
        token: str = "test-token",
        rate_limits: dict | None = None,
        check_answers: bool = True,
        check_requests: bool = True,
    ):
        """`rate_limits`: {bucket: ((requests, seconds), ...)} to simulate the vendor's limits.
        `check_answers` validates our own answers too (tests); benchmarks turn it off, as it
        costs ten times what checking the request does. `check_requests` off is only for
        measuring the sync engine where checking large bodies would be what limits the rate."""
        self.token, self.check_answers, self.check_requests = token, check_answers, check_requests
        self.faults = Faults()
        self.received: list[Received] = []
        self.invalid_requests: list[str] = []
        self.invalid_responses: list[str] = []
        self.applied: Counter[str] = Counter()  # record key -> times an upsert applied it
        self.created: Counter[str] = Counter()  # record key -> times a record was made for it
        self.rate_limits = {k: RateLimit(v) for k, v in (rate_limits or {}).items()}
        self.url_map = Map([rule.empty() for rule in self.routes])  # a rule binds to one map
        self.lock = threading.Lock()
        self._count = itertools.count(1)
        self._server = make_server(
            "127.0.0.1", 0, self.wsgi, threaded=True, request_handler=NoDelayHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> VendorServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()

    # -- what subclasses provide ---------------------------------------------------------------
    @abc.abstractmethod
    def spec_for(self, path: str) -> OpenAPI | None:
        """The vendor's spec that covers `path` (None: no such endpoint)."""

    def authorised(self, request: Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    @abc.abstractmethod
    def error(self, status: int, message: str, **extra) -> Response:
        """An error answer in the vendor's own shape."""

    def bucket(self, method: str, endpoint: str) -> str:
        return "default"

    # -- the request path ------------------------------------------------------------------------
    def wsgi(self, environ, start_response):
        request = Request(environ)
        number = next(self._count)
        try:
            response = self.handle(request, number)
        except DroppedConnection:
            connection = environ.get("werkzeug.socket")
            if connection is not None:
                connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            response = Response(status=500)
        return response(environ, start_response)

    def handle(self, request: Request, number: int) -> Response:
        request.environ["nextsale.arrived"] = time.monotonic()
        faults = self.faults
        if faults.on_request is not None:
            faults.on_request(number)
        with self.lock:
            fault = self._take_fault()
        if fault == "drop":
            self._log(request, 0)
            raise DroppedConnection
        if fault == "slow":
            time.sleep(faults.slow_seconds)
        if fault == "throttle":
            return self._log(request, self.throttled(faults.retry_after))
        if fault == "error":
            return self._log(request, self.error(faults.error_status, "injected server error"))
        try:
            endpoint, args = self.url_map.bind("127.0.0.1").match(request.path, request.method)
        except NotFound:
            return self._log(request, self.error(404, f"no route {request.method} {request.path}"))
        limiter = self.rate_limits.get(self.bucket(request.method, endpoint))
        wait = limiter.allow() if limiter else None
        if wait is not None:
            return self._log(request, self.throttled(wait))
        if not self.authorised(request):
            return self._log(request, self.error(401, "missing or invalid credentials"))
        spec = self.spec_for(request.path)
        openapi_request = WerkzeugOpenAPIRequest(request)
        checked = spec is not None and self.check_requests
        problems = _problems(spec.validate_request, openapi_request) if checked else []
        if problems:
            detail = "; ".join(_explain(p) for p in problems)
            self.invalid_requests.append(f"{request.method} {request.path}: {detail}")
            return self._log(request, self.error(400, f"invalid request: {detail}"))
        body = request.get_json(force=True, silent=True) if request.data else None
        applied: list[str] = []
        response = getattr(self, endpoint)(request, body, applied, **args)
        # answers with a body are checked when they succeed: the specs give errors a `*/*` body
        # the validator cannot parse (our client reads those only as text), and a 204 has none
        problems = []
        if (
            spec
            and self.check_answers
            and response.status_code < 300
            and response.status_code != 204
        ):
            openapi_response = WerkzeugOpenAPIResponse(response)
            problems = _problems(spec.validate_response, openapi_request, openapi_response)
        if problems:
            self.invalid_responses.append(
                f"{request.method} {request.path} -> {response.status_code}: "
                + "; ".join(_explain(p) for p in problems)
            )
        return self._log(request, response, applied)

    def throttled(self, retry_after: float) -> Response:
        response = self.error(429, "You have reached your secondly limit.")
        response.headers["Retry-After"] = f"{max(retry_after, 0.01):.2f}"
        return response

    def _take_fault(self) -> str | None:
        faults = self.faults
        for name, count in (
            ("drop", "drop"),
            ("throttle", "throttle"),
            ("error", "errors"),
            ("slow", "slow"),
        ):
            if getattr(faults, count) > 0:
                setattr(faults, count, getattr(faults, count) - 1)
                return name
        return None

    def _log(self, request: Request, response: Response | int, applied=()) -> Response:
        status = response if isinstance(response, int) else response.status_code
        arrived = request.environ.get("nextsale.arrived", time.monotonic())
        received = Received(
            request.method, request.path, status, list(applied), arrived, time.monotonic() - arrived
        )
        with self.lock:
            self.received.append(received)
            self.applied.update(applied)
        return response

    def requests_to(self, fragment: str, status: int | None = None) -> list[Received]:
        return [
            r
            for r in self.received
            if fragment in r.path and (status is None or r.status == status)
        ]


def _problems(validate: Callable, *args) -> list[Exception]:
    """What the spec finds wrong (validation only: unmarshalling is 20 times slower)."""
    try:
        validate(*args)
    except OpenAPIError as problem:
        return [problem]
    return []


def _explain(problem: Exception) -> str:
    causes = getattr(problem, "schema_errors", None) or getattr(problem, "__cause__", None)
    if isinstance(causes, tuple | list):
        return f"{problem}: " + "; ".join(getattr(c, "message", str(c)) for c in causes)[:500]
    return f"{problem}" + (f": {causes}" if causes else "")[:500]


def json_response(body: Any, status: int = 200, content_type: str = "application/json") -> Response:
    return Response(json.dumps(body), status=status, content_type=content_type)


# ------------------------------------------------------------------------------------------------
class HubSpotServer(VendorServer):
    routes = [
        Rule(
            "/crm/v3/properties/<object_type>/groups/<name>", methods=["GET"], endpoint="get_group"
        ),
        Rule("/crm/v3/properties/<object_type>/groups", methods=["POST"], endpoint="create_group"),
        Rule("/crm/v3/properties/<object_type>", methods=["GET"], endpoint="list_properties"),
        Rule(
            "/crm/v3/properties/<object_type>/batch/create",
            methods=["POST"],
            endpoint="create_properties",
        ),
        Rule("/crm/v3/objects/contacts/batch/upsert", methods=["POST"], endpoint="upsert"),
        Rule("/crm/v3/objects/contacts/batch/update", methods=["POST"], endpoint="update"),
        Rule("/crm/v3/objects/contacts/batch/archive", methods=["POST"], endpoint="archive"),
        Rule("/crm/v3/objects/contacts/gdpr-delete", methods=["POST"], endpoint="gdpr_delete"),
    ]
    batch_limit = 100
    default_properties = ("email", "firstname", "lastname", "phone")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.contacts: dict[str, dict] = {}  # by email
        self.ids: dict[str, str] = {}  # email -> id
        self.groups: dict[str, dict] = {}
        self.properties = {
            name: self._property(name, "contactinformation") for name in self.default_properties
        }
        self.erased: list[str] = []
        self.specs = {
            "properties": load_spec(SPECS_DIR / "hubspot-crm-properties-v3.json"),
            "contacts": load_spec(SPECS_DIR / "hubspot-crm-contacts-v3.json"),
        }

    def spec_for(self, path: str) -> OpenAPI | None:
        return self.specs["properties" if "/properties/" in path else "contacts"]

    def error(self, status: int, message: str, **extra) -> Response:
        category = {429: "RATE_LIMITS", 401: "INVALID_AUTHENTICATION", 404: "OBJECT_NOT_FOUND"}.get(
            status, "VALIDATION_ERROR"
        )
        body = {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
            **extra,
        }
        if status == 429:
            body |= {"errorType": "RATE_LIMIT", "policyName": "SECONDLY"}
        return json_response(body, status)

    @staticmethod
    def _property(name: str, group: str, type_: str = "string", field_type: str = "text") -> dict:
        return {
            "name": name,
            "label": name,
            "type": type_,
            "fieldType": field_type,
            "description": "",
            "groupName": group,
            "options": [],
        }

    def get_group(self, request, body, applied, object_type, name):
        if name not in self.groups:
            return self.error(404, f"Unable to find property group {name}")
        return json_response(self.groups[name])

    def create_group(self, request, body, applied, object_type):
        group = {
            "name": body["name"],
            "label": body["label"],
            "displayOrder": body.get("displayOrder", -1),
            "archived": False,
        }
        self.groups[body["name"]] = group
        return json_response(group, 201)

    def list_properties(self, request, body, applied, object_type):
        return json_response({"results": list(self.properties.values())})

    def create_properties(self, request, body, applied, object_type):
        results = []
        for item in body["inputs"]:
            if item["groupName"] not in self.groups and item["groupName"] != "contactinformation":
                return self.error(400, f"property group {item['groupName']} does not exist")
            self.properties[item["name"]] = self._property(
                item["name"], item["groupName"], item["type"], item["fieldType"]
            )
            results.append(self.properties[item["name"]])
        return json_response(
            {
                "status": "COMPLETE",
                "results": results,
                "startedAt": iso_now(),
                "completedAt": iso_now(),
            },
            201,
        )

    def upsert(self, request, body, applied, **_):
        inputs = body["inputs"]
        if len(inputs) > self.batch_limit:
            return self.error(400, f"batch of {len(inputs)} inputs: at most {self.batch_limit}")
        unknown = sorted({p for i in inputs for p in i["properties"] if p not in self.properties})
        if unknown:
            return self.error(
                400,
                f"Property values were not valid: {unknown} do not exist",
                subCategory="PROPERTY_DOESNT_EXIST",
            )
        if any(i["id"] in self.faults.poison_records for i in inputs):
            return self.error(400, "a record in this batch is malformed")
        results, errors = [], []
        for item in inputs:
            email = item["id"].lower()
            if email in self.faults.bad_records:
                errors.append(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": f"Email {email} is invalid",
                        "context": {"email": [email]},
                        "errors": [],
                        "links": {},
                    }
                )
                continue
            new = email not in self.contacts
            self.created.update([email] if new else [])
            self.ids.setdefault(email, str(100000 + len(self.ids)))
            self.contacts[email] = {**self.contacts.get(email, {}), **item["properties"]}
            applied.append(email)
            results.append(
                {
                    "id": self.ids[email],
                    "properties": {"email": email},
                    "createdAt": iso_now(),
                    "updatedAt": iso_now(),
                    "archived": False,
                    "new": new,
                }
            )
        body = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": iso_now(),
            "completedAt": iso_now(),
        }
        if errors:
            body |= {"errors": errors, "numErrors": len(errors)}
        return json_response(body, 207 if errors else 200)

    def update(self, request, body, applied, **_):
        """Update by id: an id the account no longer has is an error, never a new contact."""
        by_id = {v: k for k, v in self.ids.items()}
        results, errors = [], []
        for item in body["inputs"]:
            email = by_id.get(item["id"])
            if email not in self.contacts:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": f"Contact {item['id']} not found",
                        "context": {"ids": [item["id"]]},
                        "errors": [],
                        "links": {},
                    }
                )
                continue
            self.contacts[email] = {**self.contacts[email], **item["properties"]}
            results.append(
                {
                    "id": item["id"],
                    "properties": {"email": email},
                    "createdAt": iso_now(),
                    "updatedAt": iso_now(),
                    "archived": False,
                }
            )
        body = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": iso_now(),
            "completedAt": iso_now(),
        }
        if errors:
            body |= {"errors": errors, "numErrors": len(errors)}
        return json_response(body, 207 if errors else 200)

    def archive(self, request, body, applied, **_):
        by_id = {v: k for k, v in self.ids.items()}
        for item in body["inputs"]:
            self.contacts.pop(by_id.get(item["id"], ""), None)
        return Response(status=204)

    def gdpr_delete(self, request, body, applied, **_):
        email = (
            body["objectId"].lower()
            if body.get("idProperty") == "email"
            else {v: k for k, v in self.ids.items()}.get(body["objectId"])
        )
        if email not in self.contacts:
            return self.error(404, "contact not found")
        del self.contacts[email]
        self.erased.append(email)
        return Response(status=204)


# ------------------------------------------------------------------------------------------------
class KlaviyoServer(VendorServer):
    routes = [
        Rule("/api/profile-bulk-import-jobs", methods=["POST"], endpoint="create_job"),
        Rule("/api/profile-bulk-import-jobs", methods=["GET"], endpoint="list_jobs"),
        Rule(
            "/api/profile-bulk-import-jobs/<job_id>/relationships/<related>",
            methods=["GET"],
            endpoint="job_relationships",
        ),
        Rule("/api/profile-bulk-import-jobs/<job_id>", methods=["GET"], endpoint="get_job"),
        Rule(
            "/api/profile-bulk-import-jobs/<job_id>/import-errors",
            methods=["GET"],
            endpoint="job_errors",
        ),
        Rule("/api/lists", methods=["GET"], endpoint="get_lists"),
        Rule("/api/lists", methods=["POST"], endpoint="create_list"),
        Rule(
            "/api/lists/<list_id>/relationships/profiles",
            methods=["DELETE"],
            endpoint="remove_from_list",
        ),
        Rule("/api/profiles", methods=["GET"], endpoint="get_profiles"),
        Rule("/api/data-privacy-deletion-jobs", methods=["POST"], endpoint="privacy_delete"),
    ]
    revision = "2026-07-15"
    max_profiles = 10_000
    max_bytes = 5_000_000
    content_type = "application/vnd.api+json"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.profiles: dict[str, dict] = {}  # by email
        self.profile_ids: dict[str, str] = {}
        self.lists: dict[str, dict] = {}  # id -> {name, members: set of emails}
        self.jobs: dict[str, dict] = {}
        self.erased: list[str] = []
        self.spec = load_spec(
            SPECS_DIR / "klaviyo-openapi-stable.json",
            keep=(
                "/api/profile-bulk-import-jobs",
                "/api/lists",
                "/api/profiles",
                "/api/data-privacy-deletion-jobs",
            ),
            validate=False,  # 5 known errors in unrelated form-styling schemas (specs README)
        )

    def spec_for(self, path: str) -> OpenAPI | None:
        return self.spec

    def authorised(self, request: Request) -> bool:
        # the revision header has a schema default, so validators accept it missing: check it here
        return (
            request.headers.get("Authorization") == f"Klaviyo-API-Key {self.token}"
            and request.headers.get("revision") == self.revision
        )

    def bucket(self, method: str, endpoint: str) -> str:
        return {
            "get_lists": "profiles",
            "get_profiles": "profiles",
            "list_jobs": "profiles",
            "job_relationships": "profiles",
            "privacy_delete": "privacy",
        }.get(endpoint, "default")

    def error(self, status: int, message: str, **extra) -> Response:
        code = {429: "throttled", 401: "not_authenticated", 404: "not_found"}.get(status, "invalid")
        return json_response(
            {
                "errors": [
                    {
                        "id": str(uuid.uuid4()),
                        "status": status,
                        "code": code,
                        "title": message[:80],
                        "detail": message,
                        "source": {"pointer": "/data/"},
                    }
                ]
            },
            status,
            self.content_type,
        )

    def _job(self, job: dict) -> dict:
        return {
            "type": "profile-bulk-import-job",
            "id": job["id"],
            "attributes": {
                "status": job["status"],
                "created_at": job["created_at"],
                "total_count": job["total"],
                "completed_count": job["total"] - len(job["errors"]),
                "failed_count": len(job["errors"]),
                "completed_at": job["created_at"],
                "expires_at": job["created_at"],
                "started_at": job["created_at"],
            },
            "links": {"self": f"{self.url}/api/profile-bulk-import-jobs/{job['id']}"},
        }

    def create_job(self, request, body, applied, **_):
        profiles = body["data"]["attributes"]["profiles"]["data"]
        if len(profiles) > self.max_profiles or len(request.data) > self.max_bytes:
            return self.error(
                413, f"{len(profiles)} profiles / {len(request.data)} bytes: over the job limits"
            )
        emails = [p["attributes"].get("email", "").lower() for p in profiles]
        if any(e in self.faults.poison_records for e in emails):
            return self.error(400, "a profile in this job is malformed")
        lists = [
            item["id"]
            for item in body["data"].get("relationships", {}).get("lists", {}).get("data", [])
        ]
        job = {
            "id": uuid.uuid4().hex,
            "status": "queued",
            "created_at": iso_now(),
            "total": len(profiles),
            "errors": [],
            "lists": lists,
            "emails": [],
        }
        for email, profile in zip(emails, profiles, strict=True):
            if email in self.faults.bad_records:
                job["errors"].append(
                    {
                        "type": "import-error",
                        "id": uuid.uuid4().hex,
                        "attributes": {
                            "code": "invalid",
                            "title": "Invalid email",
                            "detail": f"{email} is not a valid email",
                            "source": {"pointer": "/data/attributes/email"},
                            "original_payload": profile["attributes"],
                        },
                    }
                )
                continue
            attributes = profile["attributes"]
            self.created.update([] if email in self.profiles else [email])
            current = self.profiles.get(email, {})
            self.profiles[email] = {
                **current,
                **attributes,
                "properties": {**current.get("properties", {}), **attributes.get("properties", {})},
            }
            self.profile_ids.setdefault(email, "01" + uuid.uuid4().hex[:24].upper())
            job["emails"].append(email)
            for list_id in lists:
                self.lists[list_id]["members"].add(email)
            applied.append(f"{email}|{','.join(lists)}" if lists else email)
        self.jobs[job["id"]] = job
        return json_response({"data": self._job(job)}, 202, self.content_type)

    def list_jobs(self, request, body, applied, **_):
        """The account's import jobs, newest first with sort=-created_at (first page only)."""
        jobs = sorted(
            self.jobs.values(),
            key=lambda j: j["created_at"],
            reverse=request.args.get("sort") == "-created_at",
        )
        size = int(request.args.get("page[size]", 20))
        return json_response(
            {"data": [self._job(j) for j in jobs[:size]], "links": {"self": request.url}},
            200,
            self.content_type,
        )

    def job_relationships(self, request, body, applied, job_id, related):
        job = self.jobs.get(job_id)
        if job is None or related not in ("profiles", "lists"):
            return self.error(404, f"no {related} of job {job_id}")
        data = (
            [{"type": "profile", "id": self.profile_ids[e]} for e in job["emails"][:100]]
            if related == "profiles"
            else [{"type": "list", "id": i} for i in job["lists"]]
        )
        return json_response({"data": data, "links": {"self": request.url}}, 200, self.content_type)

    def get_job(self, request, body, applied, job_id):
        job = self.jobs[job_id]
        response = json_response({"data": self._job(job)}, 200, self.content_type)
        if not self.faults.stuck_jobs:  # done on the second poll
            job["status"] = "complete" if job["status"] == "processing" else "processing"
        return response

    def job_errors(self, request, body, applied, job_id):
        errors = self.jobs[job_id]["errors"]
        page = int(request.args.get("page[cursor]", 0))
        links = {"self": request.url}
        if page + 100 < len(errors):
            links["next"] = (
                f"{self.url}/api/profile-bulk-import-jobs/{job_id}/import-errors?page[cursor]={page + 100}"
            )
        return json_response(
            {"data": errors[page : page + 100], "links": links}, 200, self.content_type
        )

    def get_lists(self, request, body, applied, **_):
        wanted = request.args.get("filter", "")
        found = [
            {
                "type": "list",
                "id": i,
                "attributes": {"name": v["name"]},
                "links": {"self": f"{self.url}/api/lists/{i}"},
            }
            for i, v in self.lists.items()
            if f'"{v["name"]}"' in wanted
        ]
        return json_response(
            {"data": found, "links": {"self": request.url}}, 200, self.content_type
        )

    def create_list(self, request, body, applied, **_):
        list_id = uuid.uuid4().hex[:6].upper()
        name = body["data"]["attributes"]["name"]
        self.lists[list_id] = {"name": name, "members": set()}
        return json_response(
            {
                "data": {
                    "type": "list",
                    "id": list_id,
                    "attributes": {"name": name},
                    "links": {"self": f"{self.url}/api/lists/{list_id}"},
                }
            },
            201,
            self.content_type,
        )

    def get_profiles(self, request, body, applied, **_):
        wanted = request.args.get("filter", "")
        found = [
            {
                "type": "profile",
                "id": self.profile_ids[e],
                "attributes": {"email": e},
                "links": {"self": f"{self.url}/api/profiles/{self.profile_ids[e]}"},
            }
            for e in self.profiles
            if json.dumps(e) in wanted
        ]
        return json_response(
            {"data": found, "links": {"self": request.url}}, 200, self.content_type
        )

    def remove_from_list(self, request, body, applied, list_id):
        by_id = {v: k for k, v in self.profile_ids.items()}
        for item in body["data"]:
            self.lists[list_id]["members"].discard(by_id.get(item["id"]))
        return Response(status=204)

    def privacy_delete(self, request, body, applied, **_):
        email = body["data"]["attributes"]["profile"]["data"]["attributes"]["email"].lower()
        self.profiles.pop(email, None)
        for members in self.lists.values():
            members["members"].discard(email)
        self.erased.append(email)
        return Response(status=202)

    def members(self, list_name: str) -> set[str]:
        return next((v["members"] for v in self.lists.values() if v["name"] == list_name), set())


# ------------------------------------------------------------------------------------------------
class SalesforceServer(VendorServer):
    routes = [
        Rule(
            "/services/data/<version>/composite/sobjects/<sobject>/<field>",
            methods=["PATCH"],
            endpoint="upsert",
        ),
        Rule("/services/data/<version>/composite/sobjects", methods=["DELETE"], endpoint="delete"),
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.records: dict[str, dict] = {}  # by external id
        self.ids: dict[str, str] = {}
        self.deleted: list[str] = []
        self.spec = load_spec(SPECS_DIR / "salesforce-rest-collections-bulk2.yaml")

    def spec_for(self, path: str) -> OpenAPI | None:
        return self.spec

    def error(self, status: int, message: str, **extra) -> Response:
        code = {401: "INVALID_SESSION_ID", 403: "REQUEST_LIMIT_EXCEEDED", 404: "NOT_FOUND"}.get(
            status, "INVALID_FIELD"
        )
        return json_response([{"message": message, "errorCode": code}], status)

    def upsert(self, request, body, applied, version, sobject, field):
        if any(str(r.get(field)) in self.faults.poison_records for r in body["records"]):
            return self.error(400, "a record in this collection is malformed")
        results = []
        for record in body["records"]:
            key = str(record.get(field))
            if key in self.faults.bad_records:
                results.append(
                    {
                        "success": False,
                        "errors": [
                            {
                                "statusCode": "INVALID_EMAIL_ADDRESS",
                                "message": "Email: invalid email address",
                                "fields": ["Email"],
                            }
                        ],
                    }
                )
                continue
            created = key not in self.records
            self.created.update([key] if created else [])
            self.ids.setdefault(key, "003" + uuid.uuid4().hex[:15].upper())
            self.records[key] = {k: v for k, v in record.items() if k != "attributes"}
            applied.append(key)
            results.append({"id": self.ids[key], "success": True, "created": created, "errors": []})
        return json_response(results)

    def delete(self, request, body, applied, version):
        by_id = {v: k for k, v in self.ids.items()}
        results = []
        for record_id in request.args["ids"].split(","):
            key = by_id.get(record_id)
            if key in self.records:
                del self.records[key]
                self.deleted.append(key)
                results.append({"id": record_id, "success": True, "errors": []})
            else:
                results.append(
                    {
                        "id": record_id,
                        "success": False,
                        "errors": [
                            {
                                "statusCode": "ENTITY_IS_DELETED",
                                "message": "entity is deleted",
                                "fields": [],
                            }
                        ],
                    }
                )
        return json_response(results)


SERVERS: dict[str, type[VendorServer]] = {
    "hubspot": HubSpotServer,
    "klaviyo": KlaviyoServer,
    "salesforce": SalesforceServer,
}
