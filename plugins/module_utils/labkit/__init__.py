"""labkit: the pure-Python core of the Pi cluster lab (metrics, parsing, planning, report).

Nothing in this package imports Ansible: modules in library/ and filter plugins
in plugins/filter/ are thin wrappers over it.
"""
