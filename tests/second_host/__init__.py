"""A second host: a small existing Flask app (integer user ids, its own login) adopting flask_two_factor.

It follows docs/integration.md and imports the product only as ``flask_two_factor``. Tests import
it through ``in_tree`` (the source tree under that name); test_wheel.py copies it beside an
installed wheel.
"""
