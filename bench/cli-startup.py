"""CLI start-up: each command run N times (argv[1]); medians of the child's CPU time (wait4) and wall time.
Run from the repository root after `npx tsc -p tsconfig.build.json`: python3 bench/cli-startup.py 15"""
import os, subprocess, sys, time, statistics
def measure(cmd, n):
    walls, cpus = [], []
    for _ in range(n):
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        walls.append((time.perf_counter() - t) * 1000); cpus.append((ru.ru_utime + ru.ru_stime) * 1000)
    print(f"{' '.join(cmd):45s} n={n}  CPU median {statistics.median(cpus):6.0f} ms  wall median {statistics.median(walls):6.0f} ms", flush=True)
n = int(sys.argv[1])
print('load', open('/proc/loadavg').read().strip(), flush=True)
for c in [['node','-e','0'], ['node','dist/cli/main.js','--version'], ['node','dist/cli/main.js','--help'], ['node','dist/cli/main.js','identify','--help'], ['node','dist/cli/main.js','user','list','--help']]: measure(c, n)
print('load', open('/proc/loadavg').read().strip(), flush=True)
