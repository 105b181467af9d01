"""Starting, supervising and stopping one unit's service (the fake systemd's manager part).

Each started unit gets a supervisor process (double-forked, own session) whose pid is in
/run/fake-systemd/<unit>.supervisor; the service's pid is in <unit>.main, its output in
<unit>.log. `stop` signals the supervisor, which stops the service as systemd would.
"""
import grp
import os
import pwd
import signal
import subprocess
import sys
import time

from unit import exec_argv, seconds, service_env, specifiers

STATE = '/run/fake-systemd'


def state_file(name, kind):
    return os.path.join(STATE, f'{name}.{kind}')


def read_pid(name, kind):
    try:
        with open(state_file(name, kind), encoding='ascii') as fh:
            pid = int(fh.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def write_file(path, text):
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as fh:
        fh.write(text)
    os.replace(tmp, path)


def demote(svc, as_root):
    user = None if as_root else svc.get('User')
    group = None if as_root else svc.get('Group')
    umask = int(svc.get('UMask', '0022'), 8)
    workdir = svc.get('WorkingDirectory', '').lstrip('-')

    def apply():
        os.umask(umask)
        if user:
            pw = pwd.getpwnam(user)
            gid = grp.getgrnam(group).gr_gid if group else pw.pw_gid
            os.initgroups(user, gid)
            os.setgid(gid)
            os.setuid(pw.pw_uid)
        if workdir:
            os.chdir(pwd.getpwnam(user).pw_dir if workdir == '~' and user else workdir)
    return apply


def make_dirs(svc, name):
    owner = svc.get('User')
    pw = pwd.getpwnam(owner) if owner else None
    gid = grp.getgrnam(svc['Group']).gr_gid if svc.get('Group') else (pw.pw_gid if pw else 0)
    for key, base, mode_key in (('RuntimeDirectory', '/run', 'RuntimeDirectoryMode'),
                                ('StateDirectory', '/var/lib', 'StateDirectoryMode')):
        for entry in ' '.join(svc.get(key, [])).split():
            path = os.path.join(base, specifiers(entry, name))
            os.makedirs(path, exist_ok=True)
            os.chmod(path, int(svc.get(mode_key, '0755'), 8))
            os.chown(path, pw.pw_uid if pw else 0, gid)


def run_sync(svc, name, key, env, log, mainpid=None):
    for line in svc.get(key, []):
        argv, ignore, as_root = exec_argv(line, name, env, mainpid)
        rc = subprocess.call(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             preexec_fn=demote(svc, as_root))
        if rc != 0 and not ignore:
            return rc
    return 0


def supervise(name, unit):
    """Runs in the double-forked child: starts the service and restarts it per Restart=."""
    svc = unit.get('Service', {})
    log = open(state_file(name, 'log'), 'a', encoding='utf-8')
    env = service_env(svc, name)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    restart = svc.get('Restart', 'no')
    delay = seconds(svc.get('RestartSec'), 0.1)
    make_dirs(svc, name)
    while True:
        if run_sync(svc, name, 'ExecStartPre', env, log) != 0:
            write_file(state_file(name, 'result'), 'failed')
            return
        argv, _, as_root = exec_argv(svc['ExecStart'][-1], name, env)
        # Its own process group stands in for the unit's cgroup (KillMode=control-group).
        child = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 preexec_fn=demote(svc, as_root), start_new_session=True)
        write_file(state_file(name, 'main'), str(child.pid))
        while child.poll() is None and not stopping:
            time.sleep(0.1)
        if stopping:
            stop_child(svc, name, child, env, log)
            break
        rc = child.returncode
        clean = rc == 0 or (rc < 0 and -rc in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT))
        if restart == 'always' or (restart in ('on-failure', 'on-abnormal') and not clean):
            log.write(f'fake-systemctl: {name} exited with {rc}; restarting in {delay}s\n')
            log.flush()
            end = time.monotonic() + delay
            while time.monotonic() < end and not stopping:
                time.sleep(0.05)
            if stopping:
                break
            continue
        write_file(state_file(name, 'result'), 'success' if clean else 'failed')
        break
    if svc.get('RuntimeDirectoryPreserve', 'no') not in ('yes', 'true'):
        for entry in ' '.join(svc.get('RuntimeDirectory', [])).split():
            subprocess.call(['rm', '-rf', os.path.join('/run', entry)])
    for kind in ('main', 'supervisor'):
        if os.path.exists(state_file(name, kind)):
            os.unlink(state_file(name, kind))


def stop_child(svc, name, child, env, log):
    if svc.get('ExecStop'):
        run_sync(svc, name, 'ExecStop', env, log, child.pid)
    sig = getattr(signal, svc.get('KillSignal', 'SIGTERM'))
    kill_group = svc.get('KillMode', 'control-group') != 'process'
    try:
        if kill_group:
            os.killpg(child.pid, sig)
        else:
            child.send_signal(sig)
    except ProcessLookupError:
        pass
    try:
        child.wait(timeout=seconds(svc.get('TimeoutStopSec') or svc.get('TimeoutSec'), 90))
    except subprocess.TimeoutExpired:
        log.write(f'fake-systemctl: {name} did not stop in time; SIGKILL\n')
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.wait()


def is_active(name, unit):
    if unit and unit.get('Service', {}).get('Type') == 'oneshot':
        return os.path.exists(state_file(name, 'oneshot'))
    return read_pid(name, 'supervisor') is not None


def start(name, unit):
    if unit is None:
        print(f'Failed to start {name}: Unit {name} not found.', file=sys.stderr)
        return 5
    if is_active(name, unit):
        return 0
    os.makedirs(STATE, exist_ok=True)
    svc = unit.get('Service', {})
    if svc.get('Type') == 'oneshot':
        with open(state_file(name, 'log'), 'a', encoding='utf-8') as log:
            env = service_env(svc, name)
            rc = run_sync(svc, name, 'ExecStartPre', env, log) or run_sync(svc, name, 'ExecStart', env, log)
        if rc == 0 and svc.get('RemainAfterExit', 'no') in ('yes', 'true'):
            write_file(state_file(name, 'oneshot'), 'active')
        return 0 if rc == 0 else 1
    for kind in ('main', 'result'):
        if os.path.exists(state_file(name, kind)):
            os.unlink(state_file(name, kind))
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        write_file(state_file(name, 'supervisor'), str(os.getpid()))
        try:
            supervise(name, unit)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if read_pid(name, 'main') is not None:
            return 0
        if os.path.exists(state_file(name, 'result')):
            break
        time.sleep(0.05)
    print(f'Job for {name} failed. See {state_file(name, "log")}', file=sys.stderr)
    return 1


def stop(name, unit):
    if unit and unit.get('Service', {}).get('Type') == 'oneshot':
        if os.path.exists(state_file(name, 'oneshot')):
            with open(state_file(name, 'log'), 'a', encoding='utf-8') as log:
                run_sync(unit['Service'], name, 'ExecStop', service_env(unit['Service'], name), log)
            os.unlink(state_file(name, 'oneshot'))
        return 0
    pid = read_pid(name, 'supervisor')
    if pid is None:
        return 0
    os.kill(pid, signal.SIGTERM)
    svc = (unit or {}).get('Service', {})
    deadline = time.monotonic() + seconds(svc.get('TimeoutStopSec') or svc.get('TimeoutSec'), 90) + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return 0
        time.sleep(0.05)
    print(f'{name}: supervisor {pid} did not exit', file=sys.stderr)
    return 1


def reload(name, unit):
    if unit is None or not is_active(name, unit):
        print(f'Failed to reload {name}: unit is not active.', file=sys.stderr)
        return 1
    svc = unit.get('Service', {})
    if not svc.get('ExecReload'):
        print(f'Failed to reload {name}: Job type reload is not applicable for unit {name}.', file=sys.stderr)
        return 1
    with open(state_file(name, 'log'), 'a', encoding='utf-8') as log:
        return run_sync(svc, name, 'ExecReload', service_env(svc, name), log, read_pid(name, 'main'))
