import json

from ferry_worker.failures import failure_reason


def test_reason_is_the_error_name_and_message_without_the_stack_trace():
    cause = {"errorType": "ValueError", "errorMessage": "the input is not a JSON array", "stackTrace": ['File "x.py", line 1']}
    reason = failure_reason({"Error": "ValueError", "Cause": json.dumps(cause)})
    assert reason == "ValueError: the input is not a JSON array"
    assert "x.py" not in reason


def test_reason_of_a_state_machine_error_without_a_lambda_cause():
    assert failure_reason({"Error": "States.Timeout", "Cause": "Task timed out"}) == "States.Timeout: Task timed out"
    assert failure_reason({}) == "Error"
