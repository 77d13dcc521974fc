"""The ``smplpix`` command line: argument parsing and error reporting only; every subcommand calls
into the library and prints results. See ``smplpix --help``."""
