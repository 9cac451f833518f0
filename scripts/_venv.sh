# shellcheck shell=bash
# Shared by scripts/test.sh and scripts/demo.sh: find an interpreter for a
# Python version and keep a per-version venv (.venv-X.Y) in the repo.
#
# Interpreters are looked up, never hard-coded, because developers' machines
# and CI differ: a pyenv shim named python3.12 may exist on PATH and still
# refuse to run (it only works for versions in `pyenv global`), so every
# candidate is asked for its version before it is trusted.

export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1
export PIP_PROGRESS_BAR=off

# python_ok PATH X.Y -> 0 if PATH runs and is CPython X.Y
python_ok() {
    local exe=$1 want=$2 got
    [ -n "$exe" ] || return 1
    got=$("$exe" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || return 1
    [ "$got" = "$want" ]
}

# find_python X.Y -> prints an interpreter path, or fails with a message on stderr
find_python() {
    local want=$1 var cand prefix root
    # 1. an explicit override, e.g. GLASSLOOP_PYTHON_3_12=/opt/py312/bin/python3
    var="GLASSLOOP_PYTHON_${want//./_}"
    cand=${!var:-}
    if [ -n "$cand" ]; then
        if python_ok "$cand" "$want"; then echo "$cand"; return 0; fi
        echo "error: $var=$cand is not a working Python $want" >&2
        return 1
    fi
    # 2. pythonX.Y on PATH (may be a pyenv shim that refuses to run: checked)
    for cand in "python$want" "python3"; do
        cand=$(command -v "$cand" 2>/dev/null) || continue
        if python_ok "$cand" "$want"; then echo "$cand"; return 0; fi
    done
    # 3. pyenv knows it even when it is not in `pyenv global`
    if command -v pyenv >/dev/null 2>&1; then
        prefix=$(pyenv prefix "$want" 2>/dev/null | head -n1) || prefix=
        for cand in "$prefix/bin/python$want" "$prefix/bin/python3"; do
            if python_ok "$cand" "$want"; then echo "$cand"; return 0; fi
        done
    fi
    # 4. pyenv's versions folder without the pyenv command, then common prefixes
    root=${PYENV_ROOT:-$HOME/.pyenv}
    for cand in "$root"/versions/"$want"*/bin/python"$want" \
                /usr/local/bin/python"$want" /usr/bin/python"$want" \
                /opt/python/"$want"*/bin/python"$want"; do
        if python_ok "$cand" "$want"; then echo "$cand"; return 0; fi
    done
    echo "error: no Python $want found (tried \$$var, python$want on PATH," \
         "\`pyenv prefix $want\`, $root/versions, /usr/local/bin, /usr/bin)" >&2
    return 1
}

# ensure_venv X.Y EXTRAS -> prints the venv's python; creates the venv and
# (re)installs glassloop editable when the venv is new, pyproject.toml changed,
# or glassloop does not import.  EXTRAS is "", "[demo]", "[bench]" or "[test]".
ensure_venv() {
    local want=$1 extras=$2 repo base venv py stamp sum s
    repo=$(pwd)
    venv="$repo/.venv-$want"
    py="$venv/bin/python"
    if ! python_ok "$py" "$want"; then
        base=$(find_python "$want") || return 1
        rm -rf "$venv"
        echo "-- creating $venv from $base" >&2
        "$base" -m venv "$venv" >&2 || { echo "error: venv creation failed for $base" >&2; return 1; }
    fi
    stamp="$venv/.glassloop-installed${extras}"
    sum=$(cksum < "$repo/pyproject.toml")
    # A [test] install also satisfies a plain, [demo] or [bench] one: pyproject's
    # [test] extra lists everything [demo] and [bench] do.
    for s in "$stamp" "$venv/.glassloop-installed[test]"; do
        if [ -f "$s" ] && [ "$(cat "$s")" = "$sum" ] \
            && (cd / && "$py" -c 'import glassloop' >/dev/null 2>&1); then
            echo "$py"
            return 0
        fi
        [ "$extras" = "[test]" ] && break
    done
    echo "-- installing glassloop$extras into $venv" >&2
    # Some machines' pip config names local index folders that may not exist;
    # pip warns about each one on every package, which buries real errors.
    # Editable, so pure (setup.py never compiles an editable install: the
    # .py files being edited must be what runs); GLASSLOOP_PURE=1 says so.
    GLASSLOOP_PURE=1 "$py" -m pip install -q -e "$repo$extras" 2>&1 \
        | grep -v "^WARNING: Location 'file:.*' is ignored" >&2
    if [ "${PIPESTATUS[0]}" -ne 0 ]; then
        echo "error: pip install -e '.$extras' failed on Python $want" >&2
        return 1
    fi
    echo "$sum" > "$stamp"
    echo "$py"
}
