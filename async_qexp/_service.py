"""What the services of one provider share: its session, a base URL, its tasks, its project."""

from __future__ import annotations

import attrs

from ._auth import HubGroupProject
from ._http import HttpSession
from ._tasks import TaskOwner

__all__ = ["Service", "ServiceContext"]


@attrs.frozen
class ServiceContext:
    """What a provider gives each of its services.

    Attributes:
        session: the provider's HTTP session.
        tasks: the owner of every task the services start (the provider's).
        hgp: the hub, group and project the services work in.
    """

    session: HttpSession
    tasks: TaskOwner
    hgp: HubGroupProject | None = None


class Service:
    """The base of :class:`~async_qexp.ExperimentService` and
    :class:`~async_qexp.RuntimeService`.

    Args:
        context: the provider's session, task owner and hub/group/project.
        base_url: the service's base URL.
    """

    def __init__(self, context: ServiceContext, base_url: str) -> None:
        self._session = context.session
        self._base = base_url.rstrip("/")
        self._tasks = context.tasks
        self._hgp = context.hgp

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._base} hgp={self._hgp}>"

    @property
    def base_url(self) -> str:
        """The base URL this service talks to."""
        return self._base

    @property
    def hgp(self) -> HubGroupProject | None:
        """The hub/group/project the service works in (new experiments and jobs go there)."""
        return self._hgp

    @property
    def tasks(self) -> TaskOwner:
        """The owner of the background tasks started for this service (the provider's)."""
        return self._tasks
