from __future__ import annotations

from wbspawn.cli import main

raise SystemExit(main())
