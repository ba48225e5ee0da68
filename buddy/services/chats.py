"""A family's group chat link: kept by its anchor (or the region's DA lead), seen only by
its members and their lead."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlmodel import Session, select

from buddy.models import Family, FamilyMember, Person, User
from buddy.services import NotFound, ServiceError, audit, endings
from buddy.statuses import FamilyStatus

# The chat services regions already run their communities on, by the host of their invite
# links. Only these: a link on a family page is followed by every member, so it must lead to
# a group chat and not to any page someone pasted (a look-alike sign-in page, a file).
CHAT_HOSTS = {
    "chat.whatsapp.com": "WhatsApp",  # https://chat.whatsapp.com/<invite code>
    "signal.group": "Signal",  # https://signal.group/#<group key>
    "teams.microsoft.com": "Microsoft Teams",  # work and school Teams
    "teams.live.com": "Microsoft Teams",  # Teams for personal accounts
}
MAX_LENGTH = 300  # Family.chat_link
WHICH = ("Enter a link to a group chat on WhatsApp (chat.whatsapp.com), Signal (signal.group) "
         "or Microsoft Teams (teams.microsoft.com or teams.live.com), starting with https://")


def app_name(link: str | None) -> str:
    """"WhatsApp", "Signal" or "Microsoft Teams" for a stored link; "" for none."""
    host = (urlsplit(link).hostname or "") if link else ""
    return CHAT_HOSTS.get(host, "")


def clean_link(raw: str | None) -> str:
    """The link as it is stored: https, a known chat host, an invite in it.

    :raises ServiceError: on "chat_link", saying what to enter instead.
    """
    link = (raw or "").strip()
    if not link:
        raise ServiceError({"chat_link": WHICH})
    if len(link) > MAX_LENGTH:
        raise ServiceError({"chat_link": f"The link must be {MAX_LENGTH} characters or fewer"})
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in link):
        raise ServiceError({"chat_link": "The link must not have spaces in it. Copy it again "
                                         "from the chat app"})
    try:
        parts = urlsplit(link)
        port = parts.port
    except ValueError:
        raise ServiceError({"chat_link": WHICH}) from None
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() != "https" or host not in CHAT_HOSTS or port not in (None, 443) \
            or parts.username is not None or parts.password is not None:
        raise ServiceError({"chat_link": WHICH})
    # A bare home page is not an invitation: the group's code is in the path or, for
    # Signal, after the #.
    if parts.path.strip("/") == "" and not parts.fragment:
        raise ServiceError({"chat_link": f"This is the {CHAT_HOSTS[host]} home page, not a "
                                         "group's invite link. In the group, choose "
                                         "'Invite via link' and copy that link"})
    return link


def family_for_editor(session: Session, user: User, family_id: int) -> Family:
    """A running family whose chat link `user` may change: its anchor, or its region's lead.

    :raises NotFound: for anyone else, and for a family that is not running.
    """
    if user.role in ("lead", "admin"):
        family = endings.family_for(session, user, family_id)
    else:
        family = session.exec(
            select(Family).join(FamilyMember, FamilyMember.family_id == Family.id)
            .join(Person, Person.id == FamilyMember.person_id)
            .where(Family.id == family_id, Person.user_id == user.id,
                   FamilyMember.place == "anchor")).first()
    if family is None or family.status != FamilyStatus.PUBLISHED:
        raise NotFound()
    return family


def set_link(*, session: Session, user: User, family_id: int, link: str | None) -> Family:
    """Add or change the family's chat link (`link`), or remove it (`link` None). Commits.

    :raises NotFound: see family_for_editor. :raises ServiceError: on "chat_link".
    """
    family = family_for_editor(session, user, family_id)
    before = family.chat_link
    family.chat_link = None if link is None else clean_link(link)
    if family.chat_link == before:
        return family
    session.add(family)
    action = ("family_chat_removed" if family.chat_link is None else
              "family_chat_added" if before is None else "family_chat_changed")
    # The link itself is an invitation into the chat: the trail names the app, not the link.
    audit.record(session, actor=user, action=action, region=family.region,
                 detail={"family_id": family.id, "family": family.code,
                         "app": app_name(family.chat_link or before)})
    session.commit()
    return family
