"""Schemathesis hooks for scripts/fuzz.sh: one more check on every answer.

Phone numbers and bank account numbers are masked in every answer of the
API. The fuzzer runs against the demo data, so no answer may carry one of
the demo's full numbers, which scripts/fuzz.sh passes in FUZZ_PII (the
same list it searches the server log for).
"""

import os

import schemathesis

NUMBERS = os.environ["FUZZ_PII"].split()

# The district reviewer's purpose-bound view of the account to verify: the
# one answer that carries it in full (audited on the application's trail).
REVEAL = "/reveal-bank-account"


@schemathesis.check
def no_full_personal_numbers(ctx, response, case):
    """No answer carries a full phone or bank account number of the demo data."""
    if case.formatted_path.endswith(REVEAL) and response.status_code == 200:
        return
    body = response.content or b""  # bytes: some answers are spreadsheets
    for number in NUMBERS:
        if number.encode() in body:
            raise AssertionError(f"the answer carries the full number {number[:3]}…{number[-4:]}")
