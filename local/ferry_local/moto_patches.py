"""Where moto 5.2.5 differs from AWS in a way the local stack must not: patched here, once.

moto 5.2.5 ignores a distributed Map's tolerated failure threshold: fail the Map Run as AWS does.

moto counts a failed child in the Map Run's item counters, then lets the Map succeed
(its parser even logs "ToleratedFailure* declarations currently have no effect").
AWS fails the Map Run with States.ExceedToleratedFailureThreshold once the failed
(or timed-out) items exceed ToleratedFailureCount or ToleratedFailurePercentage;
with neither declared, that is on the first failed item. The error then goes
through the Map state's own Retry/Catch like any other.

moto cannot tell a declared 0 from an absent field (both are 0), so a threshold of 0
counts as absent when the other one is set: only `Count 0` + `Percentage > 0` (or the
reverse), which AWS fails on the first failure, tolerates more here.
"""
from __future__ import annotations

from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

EXCEEDED = StatesErrorNameType.StatesExceedToleratedFailureThreshold
EXCEEDED_CAUSE = "The specified tolerated failure threshold was exceeded"  # what AWS reports


def _exceeded(failed: int, total: int, count: int, percentage: float) -> bool:
    if failed == 0:
        return False
    if not count and not percentage:  # neither declared (or both 0): no failure is tolerated
        return True
    return bool(count and failed > count) or bool(percentage and failed * 100 > percentage * total)


def patch_distributed_map_tolerance() -> None:
    """Idempotent. Applies to every distributed Map run in this process (moto server or mock_aws)."""
    if getattr(DistributedIterationComponent._map_run, "_honours_tolerance", False):
        return
    original = DistributedIterationComponent._map_run

    def _map_run(self, env, eval_input) -> None:
        original(self, env, eval_input)  # runs every item; pushes the outputs
        record = eval_input.map_run_record
        items = record.item_counter
        failed = items.failed.get() + items.timed_out.get()
        if _exceeded(failed, items.total.get(), record.tolerated_failure_count, record.tolerated_failure_percentage):
            env.stack.pop()  # the outputs: the Map has none
            # _eval_body turns this into MapRunFailed (error, cause), the Map state into MapStateFailed + Retry/Catch.
            raise FailureEventException(
                FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=EXCEEDED),
                    event_type=HistoryEventType.MapRunFailed,
                    event_details=EventDetails(
                        mapRunFailedEventDetails=MapRunFailedEventDetails(error=EXCEEDED.to_name(), cause=EXCEEDED_CAUSE)
                    ),
                )
            )

    _map_run._honours_tolerance = True
    DistributedIterationComponent._map_run = _map_run
