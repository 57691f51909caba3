#!/usr/bin/env python
"""Django's command-line utility; `touchline` (touchline/cli.py) is the same with friendlier verbs."""

from touchline.cli import main

if __name__ == "__main__":
    main()
