"""Checking an app and the machine: `wbspawn check` in a headless browser, `wbspawn doctor`."""
