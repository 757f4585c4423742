"""`make mutation`: mutmut's results over the pure domain modules, per module and in total."""
