"""Where moto 5.2.5 differs from AWS in ways the local stack must not: each patched here, idempotently.

- A distributed Map succeeds when a child fails (`patch_distributed_map_tolerance`).
- DynamoDB requests run in parallel without a lock, so conditional writes race (`patch_dynamodb_atomicity`).
- EventBridge rules never deliver to Lambda targets (`patch_eventbridge_lambda_targets`).

Both apply to moto's server and to `mock_aws` alike.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.responses import DynamoHandler
from moto.events.models import Rule

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
    """moto 5.2.5 ignores a distributed Map's tolerated failure threshold: fail the Map Run as AWS does.

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
    # moto's parser says at every state machine it reads that these declarations have no effect: now they have.
    logging.getLogger("moto.stepfunctions.parser.asl.parse.preprocessor").addFilter(
        lambda record: "ToleratedFailure" not in record.getMessage()
    )


_DYNAMODB_LOCK = threading.Lock()


def patch_dynamodb_atomicity() -> None:
    """moto 5.2.5 runs DynamoDB requests on parallel threads without a lock: two conditional
    updates of one item can both pass their condition (seen: two writers both ending one job).
    DynamoDB applies each request to an item atomically; one request at a time restores that
    (moto answers in about a millisecond, so the lock costs the local stack nothing). Idempotent."""
    if getattr(DynamoHandler.call_action, "_one_at_a_time", False):
        return
    original = DynamoHandler.call_action

    def call_action(self: DynamoHandler) -> Any:
        with _DYNAMODB_LOCK:
            return original(self)

    call_action._one_at_a_time = True
    DynamoHandler.call_action = call_action


def patch_eventbridge_lambda_targets(deliver: Callable[[str, dict[str, Any]], None]) -> None:
    """moto 5.2.5 sends a rule's events to logs, SQS and buses, never to Lambda; EventBridge invokes Lambda
    targets asynchronously. `deliver(function_name, event)` is handed each event for a Lambda target (the local
    stack invokes the function on another thread). The latest `deliver` wins: one local stack per process."""
    global _deliver
    _deliver = deliver
    if getattr(Rule.send_to_targets, "_to_lambda", False):
        return
    original = Rule.send_to_targets

    def send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
        to_lambda = [t for t in self.targets if ":lambda:" in t["Arn"] and ":function:" in t["Arn"]]
        if not to_lambda:
            return original(self, original_event, transform_input)
        with _RULES_LOCK:
            # moto raises on a Lambda target: the rule's other targets go through moto, these through `deliver`.
            targets, self.targets = self.targets, [t for t in self.targets if t not in to_lambda]
            try:
                original(self, original_event, transform_input)
            finally:
                self.targets = targets
        if _deliver is not None and self.event_pattern.matches_event(original_event):
            for target in to_lambda:
                _deliver(target["Arn"].rsplit(":function:", 1)[1].split(":")[0], dict(original_event))

    send_to_targets._to_lambda = True
    Rule.send_to_targets = send_to_targets


_deliver: Callable[[str, dict[str, Any]], None] | None = None
_RULES_LOCK = threading.Lock()
