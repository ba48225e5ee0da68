"""Generated values in every field and route parameter, as every role: never a 5xx.

RELIABILITY.md item 21. The routes come from the app's url_map and the fields from the forms
the pages render, the WTForms classes in buddy/forms.py and the names the views read from
`request`, so a new route or field is covered without editing this file. Each route and
method is one test per role; Hypothesis draws the path parameters, the query string and the
form (valid values from the page mixed with NUL and control characters, other scripts'
digits, numbers past 2**63, very long text, files in place of text). Exceptions propagate
in tests (TESTING=True), so a crash fails with its traceback; any other 5xx fails too.

One world (tests/test_route_crawl.py) per module and database: examples run one after
another against it, as a site's visitors would. Deterministic: `derandomize=True` and no
example database, so every run sends the same requests.
"""

from __future__ import annotations

import inspect
import io
import re
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

import buddy.forms
from buddy import create_app, passwords
from buddy.messaging import tokens
from buddy.models import Person, User
from buddy.services import accounts
from buddy.services.runs import MatchRun
from tests.conftest import TEST_SETTINGS, copied_database
from tests.factories import PASSWORD, Factory, login, newcomer_form, volunteer_form
from tests.test_route_crawl import REGION, build_world, url_for_rule

ROLES = ("anonymous", "member", "lead", "other_lead", "admin")
EMAILS = {"member": "member@example.org", "lead": "lead.a@example.org",
          "other_lead": "lead.b@example.org", "admin": "admin@example.org"}
TWILIO_TOKEN = "property-test-twilio-auth-token"
SOURCE = Path(__file__).resolve().parent.parent / "buddy"
FILE = object()  # stands for "this field sent as an uploaded file"
PROPERTIES = settings(max_examples=10, derandomize=True, database=None, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])


def _app_for_collection():
    """An app built only to read its url_map (no database is opened)."""
    return create_app({**TEST_SETTINGS, "BUDDY_DATABASE_URL": "sqlite:///:memory:"})


def _routes() -> list[tuple[str, str, str]]:
    """(endpoint, rule, method) for every route and method of the app."""
    out = []
    for rule in _app_for_collection().url_map.iter_rules():
        for method in sorted(rule.methods & {"GET", "POST"}):
            out.append((rule.endpoint, rule.rule, method))
    return sorted(out)


ROUTES = _routes()


# --- Values ---------------------------------------------------------------------------------

NASTY = [
    "", " ", "\x00", "a\x00b", "\r\n", "line\r\nX-Injected: 1", "\x1b[31m", "\x7f", "\x85",
    "\u0663", "\uff13", "\u00b2", "\u0662\u0660\u0662\u0667", "\uff12\uff10\uff12\uff17",
    "9" * 5000, str(2**63), str(2**63 - 1), str(2**31), str(2**31 - 1), str(-(2**63) - 1),
    "-1", "0", "00", "1e309", "NaN", "x" * 20000, "\u202eevil", "\u2028", "\u200b", "\ufeff",
    "<script>alert(1)</script>", "{{ 7 * 7 }}", "' OR 1=1 --", "../../etc/passwd", "//evil",
    "https:evil.example", "/\\evil", "javascript:alert(1)", "nowhere", "wessex", "london",
    "%00", "\ud7ff\ue000\U0010ffff", "🙂" * 50,
]
DIGITS = "0123456789\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669" \
         "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19\u00b2\u0966\u09e7"

hostile = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),  # any code point but surrogates: NUL and controls included
    st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=40),
    st.text(DIGITS, min_size=1, max_size=25),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
)
path_value = st.one_of(
    st.sampled_from(["0", "1", "2", "3", str(2**31 - 1), str(2**31), str(2**63),
                     "99999999999999999999", "\u0663", "\uff13", "\u00b2", "-1", "9" * 400,
                     "x", "a b", "%00", "..", "\u202e"]),
    st.text(max_size=20).filter(lambda s: "/" not in s),
    st.text(DIGITS, min_size=1, max_size=25),
)


# --- Harvesting forms from the pages ----------------------------------------------------------

class FormParser(HTMLParser):
    """The forms of a page: action -> field name -> values the page offers."""

    def __init__(self):
        super().__init__()
        self.forms: dict[str, dict[str, set[str]]] = {}
        self._action: str | None = None
        self._select: str | None = None
        self.page = "/"  # a form without an action posts to its own page

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._action = urlsplit(a.get("action") or "").path or self.page
            self.forms.setdefault(self._action, {})
        elif self._action and tag in ("input", "textarea", "select", "button") and a.get("name"):
            values = self.forms[self._action].setdefault(a["name"], set())
            if a.get("value") is not None:
                values.add(a["value"])
            if tag == "select":
                self._select = a["name"]
        elif tag == "option" and self._action and self._select and a.get("value") is not None:
            self.forms[self._action][self._select].add(a["value"])

    def handle_endtag(self, tag):
        if tag == "form":
            self._action = None
        elif tag == "select":
            self._select = None


def _names_the_code_reads() -> set[str]:
    """Field and query names the views read from `request` directly."""
    pattern = re.compile(r"request\.(?:args|form|values)\.get(?:list)?\(\"(\w+)\"")
    return {m for path in SOURCE.rglob("*.py") for m in pattern.findall(path.read_text())}


def _names_read_by(view) -> set[str]:
    """Field names a view function reads from `request` itself (webhooks have no page)."""
    pattern = re.compile(r"request\.(?:args|form|values)\.get(?:list)?\(\"(\w+)\"")
    return set(pattern.findall(inspect.getsource(view)))


def _wtforms_fields() -> dict[str, set[str]]:
    """Every field of every form class in buddy/forms.py, with the choices it declares."""
    fields: dict[str, set[str]] = {}
    for form_class in vars(buddy.forms).values():
        if isinstance(form_class, type) and issubclass(form_class, buddy.forms.FlaskForm):
            for name, unbound in vars(form_class).items():
                if hasattr(unbound, "field_class"):
                    choices = unbound.kwargs.get("choices") or []
                    fields.setdefault(name, set()).update(
                        str(getattr(c, "value", c[0] if isinstance(c, tuple) else c))
                        for c in choices)
    return fields


# --- One world per module ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def module_database(db_backend, template_database, tmp_path_factory, request):
    """A database of the module's own, copied from the migrated template."""
    with copied_database(db_backend, template_database,
                         tmp_path_factory.mktemp("properties"), request) as url:
        yield url


@pytest.fixture(scope="module")
def world_app(module_database):
    app = create_app({**TEST_SETTINGS, "BUDDY_DATABASE_URL": module_database,
                      "TWILIO_AUTH_TOKEN": TWILIO_TOKEN})
    with Session(app.extensions["buddy.engine"], expire_on_commit=False) as session:
        world = build_world(app, session, Factory(app, session))
        member = session.exec(select(Person).where(Person.id != world["person_id"])
                              .where(Person.role == "newcomer")).first()
        world["member_phone"] = member.phone
        # Links that open the token pages' forms: a reset link of an account of its own (a
        # generated password may be set through it) and the member's confirmation link.
        spare = Factory(app, session).staff("admin", email="reset@example.org")
        with app.app_context():
            world["tokens"] = {
                "auth.reset_password": accounts.reset_token(spare),
                "messaging.confirm_email": tokens.sign(
                    tokens.CONFIRM, {"p": member.id, "e": "member@example.org"}),
                "messaging.checkin_answer": tokens.sign(
                    tokens.CHECKIN, {"c": 1, "p": member.id, "a": "call"}),
            }
        world["accounts"] = {u.email: (u.role, u.region) for u in session.exec(
            select(User).where(User.email.in_(list(EMAILS.values()))))}
        yield app, world, session
        _wait_for_match_runs(session)
    app.extensions["buddy.engine"].dispose()


def _keep_the_roles(app, session: Session, world: dict) -> None:
    """Each role stays what its name says. Generated requests use the real password too, so
    they may delete a role's account or change its password, and the admin's form may move
    a DA lead to another region: undo that before the next request."""
    session.expire_all()
    with app.app_context():
        for email, (role, region) in world["accounts"].items():
            user = session.exec(select(User).where(User.email == email)).first()
            if user is None and role == "member":
                Factory(app, session).newcomer(email=email, region=REGION,
                                               scheme=f"{REGION}:poole")
            elif user is None:
                Factory(app, session).staff(role, region=region, email=email)
            elif user.region != region or not passwords.verify_password(
                    user.password_hash, PASSWORD)[0]:
                user.region, user.password_hash = region, passwords.hash_password(PASSWORD)
                session.add(user)
                session.commit()


def _wait_for_match_runs(session: Session, timeout: float = 90) -> None:
    """Runs started by generated requests work in their own process: let them finish
    before the database goes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session.expire_all()
        going = session.exec(select(MatchRun.id).where(
            MatchRun.status.in_(["queued", "running"]))).all()
        if not going:
            return
        time.sleep(0.5)


@pytest.fixture(scope="module")
def harvest(world_app) -> dict:
    """What the pages offer: each form's fields and values, by action, plus every field
    name anywhere (WTForms classes, templates, names the views read)."""
    app, world, _session = world_app
    parser = FormParser()
    for who in ("anonymous", "member", "lead", "admin"):
        client = _client(app, who)
        for rule in app.url_map.iter_rules():
            if "GET" in rule.methods and rule.endpoint not in ("auth.logout", "main.assets",
                                                               "static"):
                parser.page = url_for_rule(rule, world)
                response = client.get(parser.page)
                if response.mimetype == "text/html":
                    parser.feed(response.get_data(as_text=True))
                response.close()
    samples: dict[str, set[str]] = {}
    for name, values in [*_wtforms_fields().items(),
                         *((n, set()) for n in _names_the_code_reads())]:
        samples.setdefault(name, set()).update(values)
    for form in parser.forms.values():
        for name, values in form.items():
            samples.setdefault(name, set()).update(values)
    for example in (newcomer_form(), volunteer_form()):
        for name, value in example.items():
            samples.setdefault(name, set()).update(value if isinstance(value, list) else [value])
    samples.update(Body={"STOP", "START", "HELP", "1", "2", "yes"},
                   From={world["member_phone"] or "+447400123456"},
                   MessageStatus={"delivered", "failed", "undelivered", "sent"},
                   ErrorCode={"21610", "21211", "30003"}, MessageSid={"SM" + "0" * 32})
    samples["email"].update(f"person{n}@example.org" for n in range(100))
    samples.pop("csrf_token", None)
    return {"forms": parser.forms, "samples": {k: sorted(v) for k, v in samples.items()}}


def _client(app, who: str):
    client = app.test_client()
    if who != "anonymous":
        login(client, EMAILS[who])
    return client


# --- Drawing a request ------------------------------------------------------------------------

def _draw_value(data, candidates: list[str]):
    kind = data.draw(st.sampled_from(["valid", "valid", "hostile", "hostile", "file", "list"]))
    if kind == "valid" and candidates:
        return data.draw(st.sampled_from(candidates))
    if kind == "file":
        return FILE
    if kind == "list":
        return data.draw(st.lists(st.sampled_from(candidates) if candidates else hostile,
                                  max_size=4))
    return data.draw(hostile)


def _draw_request(data, app, world, harvest, rule, method):
    """The URL, the query string and the form (None for GET) of one generated request."""
    url = rule.rule
    for arg in rule.arguments:
        valid = str(world["tokens"].get(rule.endpoint) if arg == "token"
                    else world.get(arg, "1"))
        value = data.draw(st.one_of(st.just(valid), path_value), label=arg)
        url = re.sub(rf"<(?:\w+:)?{arg}>", quote(value, safe="") or valid, url)
    if rule.endpoint == "main.assets" and data.draw(st.booleans()):
        url = "/assets/nhsuk-frontend.min.css"
    samples = harvest["samples"]
    query = {}
    for name in data.draw(st.lists(st.sampled_from(sorted(samples)), max_size=3, unique=True)):
        query[name] = _draw_value(data, samples[name])
    query = {k: v for k, v in query.items() if v is not FILE and not isinstance(v, list)}
    if method == "GET":
        return url, query, None
    page_form = {**{n: set() for n in _names_read_by(app.view_functions[rule.endpoint])},
                 **harvest["forms"].get(urlsplit(url).path, {})}
    names = set(page_form) | set(data.draw(
        st.lists(st.sampled_from(sorted(samples)), max_size=4, unique=True)))
    names = sorted(names - {"csrf_token"})
    # Half the examples change one field of an otherwise valid form (to reach the code
    # behind the checks), half change any number of them.
    changed = set(names) if data.draw(st.booleans()) or not names else {
        data.draw(st.sampled_from(names))}
    # Unchanged fields of a profile form keep a complete, valid sign-up's values (a fresh
    # email each time) and its optional questions stay unanswered, so that the changed
    # field is what the code judges.
    good = volunteer_form() if "/volunteer" in url else newcomer_form()
    profile = "full_name" in page_form
    form = {}
    for name in names:
        candidates = sorted(set(samples.get(name, [])) | set(page_form.get(name, set())))
        if name not in changed and profile:
            if name in good:
                form[name] = good[name]
        elif name not in changed and candidates:
            form[name] = data.draw(st.sampled_from(candidates))
        elif data.draw(st.integers(0, 5)) > 0:  # else: the field is missing
            form[name] = _draw_value(data, candidates)
    return url, query, form


def _send(client, url, query, form, method, twilio_signed: bool):
    if method == "GET":
        return client.get(url, query_string=query)
    files = any(v is FILE for v in form.values())
    body = {k: ((io.BytesIO(b"Amina Yusuf"), "answer.txt") if v is FILE else v)
            for k, v in form.items()}
    headers = {}
    if twilio_signed:
        # As Twilio sends it: single text values, signed with the URL they go to.
        body = {k: v for k, v in form.items() if isinstance(v, str)}
        query, files = {}, False
        headers["X-Twilio-Signature"] = RequestValidator(TWILIO_TOKEN).compute_signature(
            f"http://localhost{url}", body)
    return client.post(url, query_string=query, data=body, headers=headers,
                       content_type="multipart/form-data" if files else None)


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize(("endpoint", "rule_text", "method"), ROUTES)
def test_no_generated_request_gets_a_5xx(world_app, harvest, endpoint, rule_text, method,
                                         who):
    app, world, session = world_app
    rule = next(r for r in app.url_map.iter_rules()
                if r.endpoint == endpoint and r.rule == rule_text)

    @PROPERTIES
    @given(data=st.data())
    def one_request(data):
        _keep_the_roles(app, session, world)
        url, query, form = _draw_request(data, app, world, harvest, rule, method)
        signed = endpoint.startswith("messaging.twilio") and data.draw(st.booleans())
        client = _client(app, who)
        response = _send(client, url, query, form, method, signed)
        status = response.status_code
        response.close()
        assert status < 500, f"{who} {method} {url} {query} {form!r}: {status}"

    one_request()
