"""Safety checks at run time: the prompt-injection detector, the output filter, rate
limits, and the audit records of security events."""
