"""Every state a row can be in, as the strings the database stores, and the groups code asks about.

One place for them, so a query says `FamilyStatus.PUBLISHED` or `MATCHED_FAMILY_STATUSES`
instead of a bare "published". Each member equals its stored string (StrEnum), so comparing
with a column, binding in a query and reading a row back all work unchanged; a new value is
a change here first (tests/test_statuses.py checks the models and migrations agree).

Imports nothing from buddy: models, messaging and services all import it. Which change of a
person's status is allowed, and by whom, is buddy/states.py.
"""

from __future__ import annotations

from enum import StrEnum


class PersonStatus(StrEnum):
    """`Person.status`: whether a member takes part (changes go through buddy/states.py)."""

    PENDING = "pending"  # a volunteer waiting for the region's DA lead
    ACTIVE = "active"  # taking part: may be matched and messaged
    DECLINED = "declined"  # a volunteer the region's DA lead said no to
    PAUSED = "paused"  # taking a break: kept out of matching and planned messages
    WITHDRAWN = "withdrawn"  # left Buddy


class RunStatus(StrEnum):
    """`MatchRun.status`: where an optimiser run is in its life."""

    QUEUED = "queued"  # started by a lead, waiting for the worker
    RUNNING = "running"  # the worker is solving it
    DRAFT = "draft"  # solved: the lead reviews and edits it
    PUBLISHED = "published"  # the lead published it: its families are running
    DISCARDED = "discarded"  # a draft replaced by a newer run or thrown away
    FAILED = "failed"  # the solve raised, found nothing, or was stale


class FamilyStatus(StrEnum):
    """`Family.status`: a family's life from its run's draft to its end."""

    DRAFT = "draft"  # part of a run under review: its members are not told yet
    PUBLISHED = "published"  # running: its members know each other
    ENDED = "ended"  # finished (its members' answer, its time, its lead, a move): history


class PairStatus(StrEnum):
    """`AmbassadorPair.status`: an ambassador's introduction to a newcomer."""

    DRAFT = "draft"  # part of a run under review
    PUBLISHED = "published"  # introduced: both were told


class InvitationStatus(StrEnum):
    """`Invitation.status`: a person on a trainee list, invited to join."""

    INVITED = "invited"  # sent (or due), not answered: reminders go
    JOINED = "joined"  # signed up from it
    DECLINED = "declined"  # said "No, thank you" (or STOP from the number)
    BOUNCED = "bounced"  # its email was refused for good: no more reminders
    EXPIRED = "expired"  # unanswered when the person's start date came


class MessageStatus(StrEnum):
    """`Message.status`: an outbox row. pending -> sending -> sent | failed | uncertain |
    pending (retry); pending -> cancelled | expired. Only pending rows are moved or cancelled."""

    PENDING = "pending"  # waiting for its time (or a retry, or the sending window)
    SENDING = "sending"  # claimed by a dispatcher, being handed to a provider
    SENT = "sent"  # the provider accepted it
    FAILED = "failed"  # the provider refused it, or reported it undelivered
    UNCERTAIN = "uncertain"  # the call broke off: the provider may have it; never resent
    CANCELLED = "cancelled"  # no longer wanted (left, opted out, replaced) before sending
    EXPIRED = "expired"  # not sent before it stopped being relevant


class SendOutcome(StrEnum):
    """What one provider call came to (messaging/channels.py): not stored itself, it decides
    the outbox row's next status (messaging/dispatch.py)."""

    SENT = "sent"  # the provider accepted it
    FAILED = "failed"  # refused for good: the same message would be refused again
    RETRY = "retry"  # refused for now (busy, unreachable): tried again later
    UNCERTAIN = "uncertain"  # the call broke off: the provider may have it


class FlagStatus(StrEnum):
    """`Flag.status`: something a region's DA lead should look at."""

    OPEN = "open"  # waiting for the lead
    CONTACTED = "contacted"  # the lead got in touch
    RESOLVED = "resolved"  # done with


# Groups code asks about. Tuples: they go into `.in_()` and keep the SQL the same each time.

# People no longer taking part: they left, or were turned down (retention counts from then).
LEFT_PERSON_STATUSES = (PersonStatus.WITHDRAWN, PersonStatus.DECLINED)

# A run in progress: one at a time per region and kind (a partial unique index holds it).
OPEN_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
# A run with families to show: under review, or published.
RESULT_RUN_STATUSES = (RunStatus.DRAFT, RunStatus.PUBLISHED)

# Counts as matched: families its members were told of, running or ended.
MATCHED_FAMILY_STATUSES = (FamilyStatus.PUBLISHED, FamilyStatus.ENDED)

# Not answered: the person may still join, decline or say STOP.
UNANSWERED_INVITATION_STATUSES = (InvitationStatus.INVITED, InvitationStatus.BOUNCED,
                                  InvitationStatus.EXPIRED)

# Never handed to a provider: the outbox may rewrite and send it again.
UNSENT_MESSAGE_STATUSES = (MessageStatus.PENDING, MessageStatus.CANCELLED,
                           MessageStatus.EXPIRED)
# Handed to a provider and not known to have failed: counts as sent, never sent again.
MAYBE_SENT_MESSAGE_STATUSES = (MessageStatus.SENDING, MessageStatus.SENT,
                               MessageStatus.UNCERTAIN)
# The problems page for leads and admins: refused, or not known to have arrived.
PROBLEM_MESSAGE_STATUSES = (MessageStatus.FAILED, MessageStatus.UNCERTAIN)
