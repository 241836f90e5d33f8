"""xdist scheduling: every case of one (subject, dataset) runs on one worker.

The cases of one (model or family, dataset) share a forward pass and the analyses derived from it. Dealt to
different workers, the first computes while the others block on the activation cache's lock, so a 2-worker
run spends much of its time with one core idle. xdist's own `--dist loadgroup` would group them by an
`xdist_group` mark, but it does so by appending "@group" to `item._nodeid`, which pytest 9.2 no longer reads
(node ids became structured), so the marks are silently ignored. Instead the controller, which expands the
same claim matrix as the workers, maps each claim test's id to its group and hands xdist's scope scheduler
that mapping. Tests that are not claim cases (the unit tests) are each their own scope, as under `load`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from claims.matrix import ClaimCase

#: the distribution modes this scheduler stands in for (`-n N` alone means "load")
GROUPED_MODES = ("load", "loadgroup")


def case_groups(cases: Iterable[ClaimCase]) -> dict[str, str]:
    """Parametrisation id -> scope name, one scope per (subject, dataset)."""
    return {c.test_id: f"{c.subject}@{c.dataset_label}" for c in cases}


def param_id(nodeid: str) -> str | None:
    """The parametrisation id of a node id ("...::test_claim[U1-original-zoo-gpt2-s-sotu]" -> "U1-..."), or None."""
    _, bracket, rest = nodeid.partition("[")
    return rest[:-1] if bracket and rest.endswith("]") else None


def scope_of(nodeid: str, groups: Mapping[str, str]) -> str:
    """The scope of a test: its case's group, or the node id itself for any other test."""
    group = groups.get(param_id(nodeid) or "")
    return group if group is not None else nodeid


def make_scheduler(config: Any, log: Any, cases: Iterable[ClaimCase]) -> Any:
    """A LoadScopeScheduling whose scopes are the case groups (xdist imported only when it schedules)."""
    from xdist.scheduler import LoadScopeScheduling

    groups = case_groups(cases)

    class CaseGroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid, groups)

        def remove_node(self, node: Any) -> str | None:
            """A worker died: its test is the crash (xdist reports it failed), the rest of its group moves on.

            xdist's own version puts the crashed test back in the queue, so a test that kills its worker (out of
            memory, a segfault in a native library) kills every replacement worker in turn until the restart limit.
            Here it is marked done before its group is re-queued, and the group's other tests run on a live or
            replacement worker; the plugin then sees fewer rows than selected and writes no report.
            """
            workload = self.assigned_work.pop(node)
            if not self._pending_of(workload):
                return None
            crashitem = next(nodeid for unit in workload.values() for nodeid, done in unit.items() if not done)
            for unit in workload.values():
                if crashitem in unit:
                    unit[crashitem] = True
            self.workqueue.update({scope: unit for scope, unit in workload.items() if not all(unit.values())})
            for other in self.nodes:
                self._reschedule(other)
            return str(crashitem)

    return CaseGroupScheduling(config, log)
