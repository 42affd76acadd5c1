"""The bubblewrap sandbox in which learner code runs.

Layout inside (nothing else exists):
  /usr, /bin, /lib*, /etc/ld.so.cache     read-only system
  /opt/python                             the base interpreter (read-only; bound away from /root,
                                          whose 0700 mode an unprivileged uid cannot traverse)
  /opt/site0..N                           the venv's site-packages (read-only)
  /opt/grader/{agent,wire}.py             the agent (read-only)
  /opt/files                              the assignment's public release files (read-only)
  /opt/submission/<name>                  the learner's notebook (read-only; copied into the workdir)
  extra read-only paths (e.g. the project's library), at their own paths
  /home/learner, /tmp                     private, size-capped tmpfs (the working directory)
Namespaces: pid, net (no interfaces but lo => no route out), ipc, uts, cgroup, mount.
The launcher (prlimit, then setpriv) sets rlimits and drops to a per-job unprivileged
host uid with no capabilities and no_new_privs before the agent starts.
"""

from __future__ import annotations

import os
import shutil
import site
import sys
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
BWRAP = shutil.which("bwrap") or "/usr/bin/bwrap"


@dataclass
class Limits:
    cpu_seconds: int = 60          # RLIMIT_CPU per process
    wall_seconds: int = 120        # per notebook, enforced by the checker (outside)
    memory_mb: int = 2048          # RLIMIT_AS
    processes: int = 64            # RLIMIT_NPROC for the job's uid
    output_bytes: int = 1 << 20    # stdout+stderr of the learner's process
    file_mb: int = 64              # RLIMIT_FSIZE
    tmpfs_mb: int = 256            # size of /home/learner and /tmp
    cell_seconds: int = 60         # one learner cell or one test-cell step
    max_message_mb: int = 32       # one answer from the agent

    @classmethod
    def from_dict(cls, d: dict | None) -> Limits:
        d = d or {}
        return cls(**{k: int(v) for k, v in d.items() if k in cls.__dataclass_fields__})


def available() -> bool:
    return os.path.exists(BWRAP) and os.access(BWRAP, os.X_OK)


def _site_dirs() -> list[str]:
    dirs = []
    for d in site.getsitepackages():
        if os.path.isdir(d) and d not in dirs:
            dirs.append(d)
    return dirs


def _parents(path: str) -> list[str]:
    out, p = [], os.path.dirname(path)
    while p not in ("/", ""):
        out.append(p)
        p = os.path.dirname(p)
    return out[::-1]


def build_command(uid: int, limits: Limits, files_dir: str | None, extra_ro: list[str],
                  notebook: tuple[str, str] | None = None) -> tuple[list[str], dict]:
    """Return (argv, env) for the sandboxed agent. fds 3 (requests) and 4 (answers) are inherited."""
    base = os.path.realpath(sys.base_prefix)
    exe_name = os.path.basename(os.path.realpath(sys.executable))
    args = [
        BWRAP, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session", "--cap-add", "CAP_SETUID,CAP_SETGID",
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
    ]
    if os.path.isdir("/usr/lib64"):
        args += ["--symlink", "usr/lib64", "/lib64"]
    for etc in ("/etc/ld.so.cache", "/etc/fonts", "/etc/alternatives", "/etc/localtime"):
        if os.path.exists(etc):  # public system configuration some libraries need (fontconfig, symlinks)
            args += ["--ro-bind", etc, etc]
    args += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(limits.tmpfs_mb << 20), "--tmpfs", "/tmp",
             "--perms", "0755", "--dir", "/opt", "--perms", "0755", "--dir", "/opt/grader",
             "--perms", "0755", "--dir", "/home",
             "--perms", "0777", "--size", str(limits.tmpfs_mb << 20), "--tmpfs", "/home/learner"]
    if base.startswith("/usr"):
        python = os.path.realpath(sys.executable)
    else:
        args += ["--ro-bind", base, "/opt/python"]
        python = f"/opt/python/bin/{exe_name}"
    sites = []
    for i, d in enumerate(_site_dirs()):
        args += ["--ro-bind", d, f"/opt/site{i}"]
        sites.append(f"/opt/site{i}")
    for name in ("agent.py", "wire.py"):
        args += ["--ro-bind", os.path.join(HERE, name), f"/opt/grader/{name}"]
    if files_dir:
        args += ["--ro-bind", files_dir, "/opt/files"]
    if notebook:  # the learner's own notebook (its cells also arrive over the channel)
        args += ["--perms", "0755", "--dir", "/opt/submission",
                 "--ro-bind", notebook[1], f"/opt/submission/{notebook[0]}"]
    made = {"/opt", "/opt/grader", "/home", "/tmp", "/usr"}
    for p in extra_ro:
        p = os.path.realpath(p)
        if not os.path.exists(p):
            continue
        for parent in _parents(p):
            if parent not in made:
                args += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        args += ["--ro-bind", p, p]
    args += ["--chdir", "/home/learner"]
    # launcher: rlimits (inherited by everything the learner starts), then drop to the job uid
    args += [
        "/usr/bin/prlimit", f"--as={limits.memory_mb << 20}", f"--cpu={limits.cpu_seconds}",
        f"--nproc={limits.processes}", f"--fsize={limits.file_mb << 20}", "--nofile=256", "--core=0", "--",
        "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
        "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
        python, "-I", "-S", "-B", "/opt/grader/agent.py",
    ]
    env = {
        "PATH": "/usr/bin:/bin", "HOME": "/home/learner", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1", "GRADER_SITE": ":".join(sites),
        "GRADER_MAX_MSG": str(limits.max_message_mb << 20), "GRADER_FILES": "/opt/files" if files_dir else "",
        "GRADER_NOTEBOOK": f"/opt/submission/{notebook[0]}" if notebook else "",
    }
    return args, env


def build_unsandboxed(limits: Limits, files_dir: str | None,
                      notebook: tuple[str, str] | None = None) -> tuple[list[str], dict]:
    """Only when the instructor opted out of the sandbox (no bubblewrap): same agent, no isolation."""
    env = dict(os.environ)
    env.update({"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
                "GRADER_SITE": "", "GRADER_MAX_MSG": str(limits.max_message_mb << 20),
                "GRADER_FILES": files_dir or "", "GRADER_NOTEBOOK": notebook[1] if notebook else ""})
    return [sys.executable, "-I", "-B", os.path.join(HERE, "agent.py")], env
