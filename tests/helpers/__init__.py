"""The tests' shared helpers, one module per concern; fixtures stay in tests/conftest.py.

A test imports helpers from here, never from conftest or from another test module
(tests/test_package_layout.py keeps it so):

- ``databases``: a statement's rows, a count, a database's URL as another role or name, a script
- ``stand_ins``: what stands in for the outside world: closed and silent ports, a flaky
  PostgreSQL proxy, in-process AWS
- ``processes``: the real CLI as a subprocess, the pipeline in process, the source's changes
- ``contents``: a warehouse's, a ledger's or a lake's contents in a comparable form
- ``state_machine`` and ``asl``: the deployed state machine's definition, and an interpreter
  of the Amazon States Language that walks it
"""
