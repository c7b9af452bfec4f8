"""A minimal django-helpdesk project, the competitor in ``bench_casework_api.py``.

It runs only under the throwaway virtualenv the benchmark builds in ``var/bench/``, never under the
project's own; nothing of django-helpdesk is kept in this repository.
"""
