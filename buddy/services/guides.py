"""Welcome guides: each region's, written by its DA leads, and the national one, written by
the admin. Public (people read them before they join), written in Markdown, versioned.

Safety of the page rests on three rules, each kept here:
- raw HTML is never HTML: markdown-it runs with `html` off, so `<script>` shows as text;
- a link is a link only when it leads to a web page (http, https), an email address
  (mailto) or a phone number (tel). Saving a guide with any other link is refused, naming
  the link, because a lead would rather fix it than have readers find a dead one; a stored
  text that still has one (written before a rule changed) shows it as plain text;
- pictures are refused the same way (a stored one shows as its description): the page's
  security policy would not load another site's picture, and a guide is words and links.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup
from sqlmodel import Session, select

from buddy import links, reference, scoping
from buddy.models import GuideVersion, User
from buddy.services import NotFound, ServiceError, audit

NATIONAL = "national"
MAX_BODY = 50_000
SCHEMES = ("http", "https", "mailto", "tel")
# Text-direction controls reorder what follows them, so a guide could show a link's words in
# another order than they were typed (buddy/text.py refuses them in names for that reason).
_BIDI = set("\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_TEL = re.compile(r"\+?[0-9][0-9 ()\-.]{2,30}")
GONE = "someone whose account has since been deleted"


class StaleGuide(ServiceError):
    """The guide has a newer version than the one the edit started from."""

    def __init__(self, message: str, latest: GuideVersion):
        super().__init__({"body": message})
        self.latest = latest


@dataclass(frozen=True)
class Rendered:
    """A guide as HTML that is safe to put in a page, and its sections for a contents list."""

    html: Markup
    contents: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (id, heading)


# --- Which guides there are ---------------------------------------------------------------------

def is_guide(region: str | None) -> bool:
    """True for a region's slug or "national"."""
    return region == NATIONAL or region in reference.regions()


def title(region: str) -> str:
    """The guide's heading: "Welcome to Wessex", or the national guide's."""
    if region == NATIONAL:
        return "Starting GP training in England"
    return f"Welcome to {reference.regions()[region].name}"


def place(region: str) -> str:
    """Where the guide is about, in words: "Wessex", or "England"."""
    return "England" if region == NATIONAL else reference.regions()[region].name


def public_url(region: str) -> str:
    """The absolute address of the region's public guide (or "national"), for messages."""
    return links.public_url("guides.show", region=region)


def check_editor(user: User, region: str) -> str:
    """Return `region` when `user` may write its guide: the national one the admin only,
    a region's its DA leads and the admin.

    :raises NotFound: otherwise, and for anything that is not a guide.
    """
    if not is_guide(region):
        raise NotFound()
    if region == NATIONAL:
        if user.role != "admin":
            raise NotFound()
        return region
    if user.role not in ("lead", "admin"):
        raise NotFound()
    return scoping.check_region(user, region)


# --- Reading versions ---------------------------------------------------------------------------

def latest(session: Session, region: str) -> GuideVersion | None:
    """The guide as the public sees it: its latest version (None before the first)."""
    return session.exec(select(GuideVersion).where(GuideVersion.region == region)
                        .order_by(GuideVersion.version.desc()).limit(1)).first()


def history(session: Session, *, user: User, region: str) -> list[GuideVersion]:
    """Every version of the guide, newest first.

    :raises NotFound: see check_editor.
    """
    check_editor(user, region)
    return list(session.exec(select(GuideVersion).where(GuideVersion.region == region)
                             .order_by(GuideVersion.version.desc())).all())


def version_for(session: Session, *, user: User, version_id: int) -> GuideVersion:
    """The version with this id, when `user` may write its guide.

    :raises NotFound: when missing or outside what the user may write.
    """
    found = session.get(GuideVersion, version_id)
    if found is None:
        raise NotFound()
    check_editor(user, found.region)
    return found


def writers(session: Session, versions: list[GuideVersion]) -> dict[int, str]:
    """The name of each version's writer, by version id."""
    ids = sorted({v.written_by for v in versions if v.written_by})
    names = dict(session.exec(select(User.id, User.full_name)
                              .where(User.id.in_(ids or [-1]))).all())
    return {v.id: names.get(v.written_by, GONE) for v in versions}


def updated_on(session: Session) -> dict[str, datetime]:
    """When each guide that has a version last changed, by region (and "national")."""
    rows = session.exec(select(GuideVersion.region, sa.func.max(GuideVersion.written_at))
                        .group_by(GuideVersion.region)).all()
    return dict(rows)


# --- Checking a text ----------------------------------------------------------------------------

def link_problem(url: str) -> str | None:
    """Why `url` cannot be a link in a guide, in words; None when it can."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = parts.hostname
    except ValueError:
        return "it is not a whole web address"
    if scheme in ("http", "https"):
        if not host or "." not in host:
            return "write the whole address, starting with https://"
        if parts.username is not None or parts.password is not None:
            return "it hides the site it leads to behind an @ sign"
        return None
    if scheme == "mailto":
        return None if "@" in parts.path else "write it as mailto:name@example.org"
    if scheme == "tel":
        return None if _TEL.fullmatch(unquote(parts.path)) else "write it as tel: and the number"
    return "a link must start with https://, http://, mailto: or tel:"


def _shown(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _walk(tokens: list[Token]):
    for token in tokens:
        yield token
        if token.children:
            yield from _walk(token.children)


def problems(body: str) -> list[str]:
    """What in `body` cannot be shown as written: each bad link and picture, named."""
    out = []
    for token in _walk(_lenient().parse(body)):
        if token.type == "link_open":
            href = str(token.attrGet("href") or "")
            why = link_problem(href)
            if why:
                out.append(f'Change the link "{_shown(href)}": {why}')
        elif token.type == "image":
            alt = token.content or "picture"
            out.append(f'Remove the picture "{_shown(alt)}": a guide has words and links '
                       f"only. To point to it, make it a link: [{_shown(alt)}]"
                       f"({_shown(str(token.attrGet('src') or ''))})")
    return list(dict.fromkeys(out))


def clean_body(raw: str | None) -> str:
    """The guide's text as it is stored: NFC, one kind of line break, trimmed.

    :raises ServiceError: on "body" when empty, too long, holding text-direction controls,
        or holding a link or picture that cannot be shown (each named).
    """
    text = raw if isinstance(raw, str) else ""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n\n").strip()
    if not text:
        raise ServiceError({"body": "Write the guide before saving it"})
    if len(text) > MAX_BODY:
        raise ServiceError({"body": f"The guide is {len(text):,} characters long: keep it "
                                    f"under {MAX_BODY:,}, or link to longer pages"})
    for number, line in enumerate(text.split("\n"), 1):
        if any(c in _BIDI for c in line):
            raise ServiceError({"body": f"Remove the hidden text-direction mark on line "
                                        f"{number}: it can show text in another order than "
                                        "it was typed"})
    found = problems(text)
    if found:
        raise ServiceError({"body": found[0]} if len(found) == 1 else
                           {"body": found[0], **{f"body-{i}": p
                                                 for i, p in enumerate(found[1:], 2)}})
    return text


# --- Rendering ----------------------------------------------------------------------------------

def _parser(*, strict: bool) -> MarkdownIt:
    # CommonMark with raw HTML off (it is escaped and shown as text); a line break in the text
    # is a line break on the page, as people who do not know Markdown expect.
    md = MarkdownIt("commonmark", {"html": False, "breaks": True})
    md.validateLink = (lambda url: link_problem(url) is None) if strict else (lambda url: True)
    return md


@lru_cache(maxsize=1)
def _lenient() -> MarkdownIt:
    """Finds every link as typed, so that a bad one can be named to the writer."""
    return _parser(strict=False)


@lru_cache(maxsize=1)
def _strict() -> MarkdownIt:
    """Renders for readers: a link that fails link_problem is left as text."""
    md = _parser(strict=True)
    # A picture shows as its description, in words.
    md.add_render_rule("image", lambda self, tokens, idx, options, env:
                       self.renderInline(tokens[idx].children or [], options, env))
    return md


CLASSES = {"h2": "nhsuk-heading-m", "h3": "nhsuk-heading-s", "h4": "nhsuk-heading-xs",
           "h5": "nhsuk-heading-xs", "h6": "nhsuk-heading-xs",
           "bullet_list_open": "nhsuk-list nhsuk-list--bullet",
           "ordered_list_open": "nhsuk-list nhsuk-list--number",
           "blockquote_open": "nhsuk-inset-text"}


def _plain(token: Token) -> str:
    return "".join(c.content for c in _walk(token.children or [])
                   if c.type in ("text", "code_inline")).strip()


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-") or "section"
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug


@lru_cache(maxsize=64)
def render(body: str, top: int = 2) -> Rendered:
    """`body` (Markdown) as safe HTML for a page whose h1 is the guide's title.

    Headings move so that the writer's top level becomes h`top` (2: the page keeps one h1;
    3 where the text sits under a heading of the page, as in a preview); each h2 gets an id
    for the contents list.
    """
    md = _strict()
    tokens = md.parse(body)
    levels = [int(t.tag[1]) for t in tokens if t.type == "heading_open"]
    shift = top - min(levels) if levels else 0
    contents: list[tuple[str, str]] = []
    taken: set[str] = set()
    for i, token in enumerate(tokens):
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + shift)}"
        if token.type == "heading_open":
            token.attrSet("class", CLASSES[token.tag])
            if token.tag == "h2":
                words = _plain(tokens[i + 1])
                slug = _slug(words, taken)
                token.attrSet("id", slug)
                contents.append((slug, words or "Section"))
        elif token.type in CLASSES:
            token.attrSet("class", CLASSES[token.type])
    html = md.renderer.render(tokens, md.options, {})
    # markdown-it escaped every character of the writer's text and attributes.
    return Rendered(html=Markup(html), contents=tuple(contents))


# --- Writing ------------------------------------------------------------------------------------

def _stale(session: Session, region: str, base_version: int | None) -> GuideVersion | None:
    """The latest version when it is not the one the edit started from."""
    current = latest(session, region)
    if (current.version if current else 0) != (base_version or 0):
        return current
    return None


def _stale_error(session: Session, newer: GuideVersion, verb: str) -> StaleGuide:
    who = writers(session, [newer])[newer.id]
    who = who[:1].upper() + who[1:]
    return StaleGuide(
        f"{who} saved a newer version of this guide (version {newer.version}, "
        f"{newer.written_at:%-d %B %Y at %H:%M} UTC) after you started. Nothing was {verb}. "
        f"Your text is still below: compare it with version {newer.version}, change it if "
        "you need to, and save again", newer)


def _add(session: Session, *, user: User, region: str, body: str, version: int,
         restored_from: int | None = None) -> GuideVersion:
    row = GuideVersion(region=region, version=version, body=body, written_by=user.id,
                       restored_from=restored_from)
    session.add(row)
    if restored_from is None:
        text = f"Saved version {version} of the {place(region)} welcome guide"
        action_detail = {}
    else:
        text = (f"Restored version {restored_from} of the {place(region)} welcome guide, "
                f"as version {version}")
        action_detail = {"from_version": restored_from}
    audit.record(session, actor=user,
                 action="guide_saved" if restored_from is None else "guide_restored",
                 region=None if region == NATIONAL else region,
                 detail={"guide": region, "version": version, "text": text, **action_detail})
    try:
        session.commit()
    except sa.exc.IntegrityError:
        # Another save took this version number between our read and our write.
        session.rollback()
        raise _stale_error(session, latest(session, region), "saved") from None
    return row


def save(*, session: Session, user: User, region: str, body: str | None,
         base_version: int | None) -> tuple[GuideVersion, bool]:
    """Save `body` as the guide's next version, unless someone saved since `base_version`
    (the version the edit started from; None or 0 for a guide not yet written). Commits,
    with an audit event. Returns the guide's latest version and whether it is new (an
    unchanged text adds no version).

    :raises NotFound: see check_editor. :raises StaleGuide: when the guide moved on.
    :raises ServiceError: on "body", see clean_body.
    """
    check_editor(user, region)
    text = clean_body(body)
    newer = _stale(session, region, base_version)
    if newer is not None:
        raise _stale_error(session, newer, "saved")
    current = latest(session, region)
    if current is not None and current.body == text:
        return current, False
    row = _add(session, user=user, region=region, body=text,
               version=(current.version if current else 0) + 1)
    return row, True


def restore(*, session: Session, user: User, version_id: int,
            base_version: int | None) -> GuideVersion:
    """Roll the guide back to an earlier version: a new version that copies it. Commits,
    with an audit event naming both versions.

    :raises NotFound: see version_for. :raises StaleGuide: when the guide moved on since
        `base_version`. :raises ServiceError: when it is already the current text.
    """
    old = version_for(session, user=user, version_id=version_id)
    newer = _stale(session, old.region, base_version)
    if newer is not None:
        raise _stale_error(session, newer, "restored")
    current = latest(session, old.region)
    if current.body == old.body:
        raise ServiceError(f"Version {old.version} is the same text as the guide now "
                           f"(version {current.version}): there is nothing to restore")
    return _add(session, user=user, region=old.region, body=old.body,
                version=current.version + 1, restored_from=old.version)
