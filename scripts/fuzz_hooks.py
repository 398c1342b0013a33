"""Schemathesis hooks for scripts/fuzz.sh: one more check on every answer.

Phone numbers and bank account numbers are masked in every answer of the
API. The fuzzer runs against the demo data, so no answer may carry one of
the demo's full numbers, which scripts/fuzz.sh passes in FUZZ_PII (the
same list it searches the server log for).
"""

import os

import schemathesis

NUMBERS = os.environ["FUZZ_PII"].split()


@schemathesis.check
def no_full_personal_numbers(ctx, response, case):
    """No answer carries a full phone or bank account number of the demo data."""
    body = response.content or b""  # bytes: some answers are spreadsheets
    for number in NUMBERS:
        if number.encode() in body:
            raise AssertionError(f"the answer carries the full number {number[:3]}…{number[-4:]}")
