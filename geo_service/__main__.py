"""Allow ``python -m geo_service`` to run the command-line interface."""

from geo_service.cli import main

raise SystemExit(main())
