"""What requests cost and what is booked (pure, CPython-tested): token usage read from answers in flight (`usage`;
the text a stream generated, for an estimate when it ends without its usage, in `generated`),
prices (`pricing`), the one decision of what a finished request books (`charge`), the ledger per day and model
(`ledger`), the recent-requests ring (`recent`) and the UTC days and periods they are kept by (`periods`).
Used for the master key and virtual keys alike.
"""
