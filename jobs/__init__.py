"""RQ entry points: thin functions that take ids, run in an app context, call the domain."""
