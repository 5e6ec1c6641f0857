"""Fleet: one recipe on many servers over the system's OpenSSH client.

Host patterns and `--limit` (hosts.py) and the inventory file (inventory.py) come
first; running recipes on the hosts builds on them.
"""
