#!/usr/bin/python3
"""A stand-in for systemctl on hosts without systemd as PID 1 (the test's namespace hosts).

The deploy test puts it in place of /usr/bin/systemctl inside each host's mount namespace, so the roles run the very same ansible.builtin.systemd tasks as on a real host and
this program starts the *installed* unit files: User/Group, Environment/EnvironmentFile (and
nothing else: a clean environment, as systemd gives), WorkingDirectory, UMask,
RuntimeDirectory, ExecStartPre/ExecStart/ExecReload/ExecStop, Type=oneshot with
RemainAfterExit, Restart/RestartSec, KillSignal/KillMode and TimeoutStopSec.
Sandboxing keys are ignored here; `systemd-analyze security` scores them instead.

unit.py reads unit files, service.py starts and stops services; this file is the command line.
hosts.sh bind-mounts a two-line wrapper over /usr/bin/systemctl that runs this file.
"""
import os
import sys

from service import is_active, reload, start, state_file, read_pid, stop
from unit import find_unit, parse_unit, unit_name


def wants_links(name, unit):
    install = (unit or {}).get('Install', {})
    targets = ' '.join(install.get('WantedBy', []) + install.get('RequiredBy', [])).split()
    return [os.path.join('/etc/systemd/system', f'{t}.wants', name) for t in targets]


def is_enabled(name, unit):
    if unit is None:
        return 'not-found' if find_unit(name) is None else 'masked'
    links = wants_links(name, unit)
    if not links:
        return 'static'
    return 'enabled' if any(os.path.lexists(link) for link in links) else 'disabled'


def enable(name, unit, on):
    for link in wants_links(name, unit):
        if on and not os.path.lexists(link):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(find_unit(name), link)
        elif not on and os.path.lexists(link):
            os.unlink(link)
    return 0


def show(name, unit):
    if find_unit(name) is None:
        load, active = 'not-found', 'inactive'
    elif unit is None:
        load, active = 'masked', 'inactive'
    else:
        load = 'loaded'
        result = open(state_file(name, 'result'), encoding='utf-8').read() if os.path.exists(state_file(name, 'result')) else ''
        active = 'active' if is_active(name, unit) else ('failed' if result == 'failed' else 'inactive')
    print(f'Id={name}\nLoadState={load}\nActiveState={active}\nSubState={"running" if active == "active" else "dead"}\n'
          f'MainPID={read_pid(name, "main") or 0}\nUnitFileState={is_enabled(name, unit)}')
    return 0


def main(argv):
    words = [a for a in argv if not a.startswith('-')]
    if not words:
        print('fake-systemctl: no command', file=sys.stderr)
        return 1
    command, units = words[0], [unit_name(u) for u in words[1:]]
    if command in ('daemon-reload', 'daemon-reexec', 'reset-failed'):
        return 0
    if command == 'list-unit-files':
        for u in units:
            if find_unit(u):
                print(f'{u} {is_enabled(u, parse_unit(u))}')
        return 0
    rc = 0
    for name in units:
        unit = parse_unit(name)
        if command == 'start':
            rc |= start(name, unit)
        elif command == 'stop':
            rc |= stop(name, unit)
        elif command == 'restart' or (command == 'try-restart' and is_active(name, unit)):
            rc |= stop(name, unit) or start(name, unit)
        elif command == 'reload':
            rc |= reload(name, unit)
        elif command in ('reload-or-restart', 'try-reload-or-restart'):
            rc |= reload(name, unit) if is_active(name, unit) else start(name, unit)
        elif command in ('is-active', 'status'):
            active = unit is not None and is_active(name, unit)
            print('active' if active else 'inactive')
            rc |= 0 if active else 3
        elif command == 'is-enabled':
            state = is_enabled(name, unit)
            print(state)
            rc |= 0 if state in ('enabled', 'static') else 1
        elif command in ('enable', 'disable'):
            rc |= enable(name, unit, command == 'enable')
        elif command == 'show':
            rc |= show(name, unit)
        elif command != 'try-restart':
            print(f'fake-systemctl: unsupported command {command}', file=sys.stderr)
            return 1
    return rc


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
