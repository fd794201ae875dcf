"""The command line: thin modules that parse arguments, call the library and render results.

Each command lives in its own module exposing `configure(parser)` and `run(args) -> int`; the
dispatcher in `hoist.cli.main` imports only the module of the command being run, which keeps
cold start fast.
"""
