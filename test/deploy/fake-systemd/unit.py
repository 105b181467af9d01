"""Unit files as systemd reads them: search path, drop-ins, lists, specifiers, Exec lines and
the service's environment (clean: only PATH, LANG, the user's HOME/USER/LOGNAME/SHELL and the
unit's Environment/EnvironmentFile, as systemd gives it)."""
import os
import pwd
import shlex

UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system']
LIST_KEYS = {'Environment', 'EnvironmentFile', 'ExecStartPre', 'ExecStart', 'ExecStartPost',
             'ExecReload', 'ExecStop', 'WantedBy', 'RequiredBy', 'RuntimeDirectory', 'StateDirectory'}
DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'


def unit_name(arg):
    return arg if '.' in arg else arg + '.service'


def find_unit(name):
    for d in UNIT_DIRS:
        path = os.path.join(d, name)
        if os.path.lexists(path):
            return path
    return None


def parse_unit(name):
    """Returns {section: {key: value or [values]}} merged with drop-ins, or None when absent."""
    path = find_unit(name)
    if path is None or os.path.realpath(path) == '/dev/null':
        return None
    files = [path]
    for d in UNIT_DIRS:
        dropins = os.path.join(d, name + '.d')
        if os.path.isdir(dropins):
            files += [os.path.join(dropins, f) for f in sorted(os.listdir(dropins)) if f.endswith('.conf')]
    unit = {}
    for f in files:
        section = None
        with open(f, encoding='utf-8') as fh:
            lines = fh.read().replace('\\\n', ' ').splitlines()
        for line in lines:
            line = line.strip()
            if not line or line[0] in '#;':
                continue
            if line.startswith('['):
                section = unit.setdefault(line.strip('[]'), {})
                continue
            key, _, value = line.partition('=')
            key, value = key.strip(), value.strip()
            if key in LIST_KEYS:
                # An empty assignment resets the list, as in systemd.
                section[key] = [] if value == '' else section.get(key, []) + [value]
            else:
                section[key] = value
    return unit


def specifiers(text, name):
    return (text.replace('%%', '\0').replace('%n', name).replace('%N', name.rsplit('.', 1)[0])
            .replace('%p', name.rsplit('.', 1)[0].split('@')[0]).replace('%t', '/run')
            .replace('%H', os.uname().nodename).replace('\0', '%'))


def seconds(value, default):
    if not value:
        return default
    value = value.strip()
    if value in ('infinity', '0'):
        return 3600.0 if value == 'infinity' else default
    for suffix, factor in (('ms', 0.001), ('min', 60), ('s', 1), ('m', 60)):
        if value.endswith(suffix):
            return float(value[:-len(suffix)]) * factor
    return float(value)


def service_env(svc, name):
    env = {'PATH': DEFAULT_PATH, 'LANG': 'C.UTF-8'}
    user = svc.get('User')
    if user:
        pw = pwd.getpwnam(user)
        env.update(HOME=pw.pw_dir, USER=user, LOGNAME=user, SHELL=pw.pw_shell)
    for spec in svc.get('EnvironmentFile', []):
        optional = spec.startswith('-')
        path = specifiers(spec.lstrip('-'), name)
        if not os.path.exists(path):
            if optional:
                continue
            raise SystemExit(f'EnvironmentFile {path} is missing')
        with open(path, encoding='utf-8') as fh:
            for line in fh:
                line = line.strip()
                if line and not line.startswith('#') and '=' in line:
                    key, _, value = line.partition('=')
                    env[key.strip()] = value.strip().strip('"\'')
    for spec in svc.get('Environment', []):
        for item in shlex.split(specifiers(spec, name)):
            key, _, value = item.partition('=')
            env[key] = value
    return env


def exec_argv(line, name, env, mainpid=None):
    """Splits one Exec line: returns (argv, ignore_failure, as_root)."""
    flags = ''
    while line and line[0] in '-+!@:':
        flags += line[0]
        line = line[1:]
    text = specifiers(line, name)
    if mainpid is not None:
        text = text.replace('$MAINPID', str(mainpid)).replace('${MAINPID}', str(mainpid))
    argv = []
    for word in shlex.split(text):
        if word.startswith('$') and not word.startswith('$$'):
            argv += env.get(word.strip('${}'), '').split()
        else:
            argv.append(word)
    return argv, '-' in flags, '+' in flags
