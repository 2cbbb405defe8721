"""The daemons of the I/O cluster, one server per concern, composed by node.py.

node.py (the dispatcher the engine sees), core.py (what a server may ask of it), procman.py,
names.py, console.py, rmem.py, shm.py, files.py (with fspaths.py), ipc.py, policy.py (with
policies.py, what a policy is). docs/design.md, "The OS", says how they fit.
"""
