"""Shared test support; tests/ is on sys.path (rootdir conftest, no tests/__init__.py), so
`from support.cli import invoke`.

- cli:     run dtsctl in-process (`invoke`) or as the installed console script (`run_dtsctl`)
- azure:   dtsctl's Azure commands against tests/azureloop as the kit's operator (`dts`), the ARM
           writes it recorded (`writes`), an IP echo service on loopback (`ip_echo_server`, `ip_echo`)
- net:     loopback ports (free_port, held_port: one taken for a block) and HTTP without proxies
- procs:   whether a process still runs
- wait:    poll until a condition holds
- ci:      fail on CI, skip elsewhere, when something a test needs is missing
- sdk:     the real durabletask SDK worker and client; `hosted`: the local engine in this process
           with a worker hosting given orchestrations and activities
- terminal: run dtsctl as a terminal of a given width shows it (`on_terminal`, `Screen`)
- samples: the local engine in this process and the samples worker against it
- server_process: the local engine's server as a process of its own (start_server)
- docker:  Docker Engine fixtures (a pytest plugin, see conftest.py), cleanup, the loopback registry
- standin: the offline stand-in emulator image
"""
