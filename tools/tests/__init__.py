"""Unit tests of the host tools (tools/mmtorture): python3 -m unittest discover -s tools/tests -t tools"""
