# One progress line per compiled unit of mmcv's source build, read from
# `pip install -v` output (tools/bootstrap.sh pipes the build through this).
#
# pip -v indents the build's own output by two spaces ("  [12/77] c++ ..."),
# so every pattern allows leading blanks; tests/test_tools/
# test_bootstrap_progress.py runs this file over real pip -v lines.
#
# Variables: t0, the build's start in seconds since the epoch (-v t0=...).

# the object file a compile line writes (the word after -o), without its path
function unit(line,    n, w, i, f, k, p) {
    f = "?"
    n = split(line, w, " ")
    for (i = 1; i < n; i++) if (w[i] == "-o") f = w[i + 1]
    k = split(f, p, "/")
    return p[k]
}

# ninja: "[done/total] command"; the remaining time is extrapolated from
# the units done so far
/^[ \t]*\[[0-9]+\/[0-9]+\] / {
    match($0, /\[[0-9]+\/[0-9]+\]/)
    split(substr($0, RSTART + 1, RLENGTH - 2), count, "/")
    elapsed = systime() - t0
    left = int(elapsed * (count[2] - count[1]) / count[1] + 0.5)
    printf "[bootstrap] mmcv [%d/%d] %s (%ds elapsed, ~%ds left)\n", \
        count[1], count[2], unit($0), elapsed, left
    fflush()
    next
}

# without ninja, setuptools runs the compiler once per unit
/^[ \t]*(gcc|g\+\+|c\+\+|x86_64-linux-gnu-g(cc|\+\+)) .* -c / {
    printf "[bootstrap] mmcv compiling %s (%ds elapsed)\n", unit($0), \
        systime() - t0
    fflush()
    next
}

/Successfully installed|Using cached|ERROR|error:/ {
    print "[bootstrap] " $0
    fflush()
}
