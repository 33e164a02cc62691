"""Process helpers for the integration tests (Linux /proc)."""

import os


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline") as f:
            return f.read()
    except OSError:
        return ""


def workers(pid):
    """apexrl's worker processes (actors, evaluator) of the learner process ``pid``, oldest first:
    the children of its fork server (``apexrl.backends.mp.worker_context``), or its ``spawn``
    children."""
    direct = children(pid)
    found = [w for s in direct if "multiprocessing.forkserver" in cmdline(s) for w in children(s)]
    found += [c for c in direct if "spawn_main" in cmdline(c)]
    return sorted(found)
