"""A domain orchestrator under a parent (ACTN PNC role): the seams it adds.

The orchestrator of one domain is the ordinary orchestrator on that domain's agents
(``OrchestratorConfig.domain`` set, the inventory filtered to the domain), plus what a
parent orchestrator needs on its northbound: the abstract view (``abstract``) and the
segments it asks for (``segments``), both in qnms-domain-abstract. This module plugs
them into the orchestrator's datastores: the segments' write check next to the
controller's admission, and one state provider serving units, segments and the view.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from qnms.netconf.datastore.manager import DatastoreManager
from qnms.orchestrator.abstract import abstract_view
from qnms.orchestrator.controller import Controller
from qnms.orchestrator.segments import Segments
from qnms.orchestrator.store import Store


class DomainState:
    """StateProvider of a domain orchestrator's northbound."""

    def __init__(self, controller: Controller, segments: Segments) -> None:
        self.controller = controller
        self.segments = segments

    def state(self) -> list[etree._Element]:
        ctl = self.controller
        view = abstract_view(self.segments.domain, ctl.discovery, ctl.ledger.free_by_node())
        return [*ctl.state(), *self.segments.state(), view]


def attach_segments(
    controller: Controller, datastores: DatastoreManager, state_dir: Path, domain: str
) -> Segments:
    """Give a domain orchestrator (its controller and northbound datastores) its
    segments and abstract view. Segment records are also what the controller's start-up
    repair must leave on the agents."""
    store = Store(state_dir / "segments.db")
    segments = Segments(controller, domain, store)
    controller.also_owned = lambda: [rec for rec, _fp in store.load().values()]
    datastores.state_provider = DomainState(controller, segments)
    datastores.write_checks.append(segments.check)
    return segments
