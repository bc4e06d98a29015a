#!/bin/bash
# rain shell against a real raind: a script of commands on standard input
# (image list and show, quoting, comments, continued lines, a failing line
# stopping the script with its exit status, -k going on, exit N, -c, no
# expansion and no shell run), and interactive sessions through a pty
# (python3's pty module): the prompt, TAB completion of a command, a
# sub-command, an image name and a quoted one from raind, site names
# listed, a failing command and Ctrl-C leaving the prompt, history written
# 0600 and recalled in the next session, and TAB with raind not answering.
source "$(dirname "$0")/lib.sh"

if [ ! -x "$RAIN" ]; then
	skip "rain shell tests" "$RAIN is not built"
	test_done
fi

printf 'clouds:\n  test:\n    auth_type: none\n    image_endpoint_override: http://127.0.0.1:1\n' \
	>"$TMP/clouds.yaml"
cat >"$TMP/raind.ini" <<EOF
[site.cloud]
uri = openstack:test
clouds_yaml = $TMP/clouds.yaml
[site.cluster]
uri = openstack:test
clouds_yaml = $TMP/clouds.yaml
[site.hpc]
uri = openstack:test
clouds_yaml = $TMP/clouds.yaml
EOF
raind_start --config "$TMP/raind.ini" || exit 1
export XDG_STATE_HOME=$TMP/state

head -c 4096 /dev/urandom >"$TMP/data.raw"
"$RAIN" -q image put "$TMP/data.raw" --name shell-alpha --disk-format raw --container-format bare \
	>/dev/null && "$RAIN" -q image put "$TMP/data.raw" --name "shell beta" --disk-format raw \
	--container-format bare >/dev/null
check "two images are stored" test "$(image_count)" -ge 2
ALPHA=$("$RAIN" --json image show shell-alpha | json_get id)
BETA=$("$RAIN" --json image show "shell beta" | json_get id)
check "their ids are known" test -n "$ALPHA" -a -n "$BETA"

# script TEXT [ARGS...]: rain shell ARGS with TEXT on standard input;
# sets RC, output in $TMP/out and $TMP/err
script() {
	local text=$1
	shift
	printf '%s' "$text" | "$RAIN" shell "$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
}

# ---- scripts -----------------------------------------------------------------
script $'image list\nimage show shell-alpha\n'
check_eq "a script of two commands exits 0" 0 "$RC"
check "image list lists both images" grep -q "shell beta" "$TMP/out"
check "image show shows the image" grep -q "^id  *$ALPHA" "$TMP/out"
check "no prompt without a terminal" sh -c "! grep -q 'rain>' '$TMP/out' '$TMP/err'"

script $'# a comment\n\n   \nimage show \'shell beta\'   # the quoted name\nimage \\\nshow "shell-alpha" --json\n'
check_eq "comments, blank lines, quotes and a continued line" 0 "$RC"
check "the quoted name is one word" grep -q "^id  *$BETA" "$TMP/out"
check "the continued line ran with its option" grep -q "\"id\": \"$ALPHA\"" "$TMP/out"

script $'image list\nimage show nosuch\nversion\n'
check_eq "a failing line stops the script with its exit status" 1 "$RC"
check "its error is printed" grep -q "no image is named 'nosuch'" "$TMP/err"
check "the line is named" grep -q "stopped at line 2 (exit status 1)" "$TMP/err"
check "the lines after it do not run" sh -c "! grep -q '^rain 0' '$TMP/out'"

script $'image show\nversion\n'
check_eq "a usage error stops it with 2" 2 "$RC"

script $'image show nosuch\nversion\nimage show shell-alpha\n' -k
check_eq "-k goes on and ends with the failure's status" 1 "$RC"
check "-k: the lines after the failure ran" grep -q "^rain 0" "$TMP/out"
check "-k: and the last one" grep -q "^id  *$ALPHA" "$TMP/out"
script $'version\nimage show shell-alpha\n' --keep-going
check_eq "--keep-going without a failure is 0" 0 "$RC"

script $'version\nexit 3\nimage show shell-alpha\n'
check_eq "exit N ends the script with N" 3 "$RC"
check "nothing runs after exit" sh -c "! grep -q '^id ' '$TMP/out'"

script $'version\nimage show \'shell beta\n'
check_eq "a quote left open at the end is a usage error" 2 "$RC"
check "it says where" grep -q "line 2, column 12: the single quote here is not closed" "$TMP/err"
script $'image show "shell\nbeta"\n'
check_eq "a quote closed on the next line is one word with a newline" 1 "$RC"
check "and that name is looked up" sh -c "grep -q \"named 'shell\$\" '$TMP/err' && grep -q \"^beta'\" '$TMP/err'"

script $'shell\nversion\n'
check_eq "rain shell does not run inside itself" 2 "$RC"
check "and says so" grep -q "this is rain shell already" "$TMP/err"

script $'help\nhelp image show\nversion\n'
check_eq "help and help COMMAND" 0 "$RC"
check "help lists the commands" grep -q "^  register " "$TMP/out"
check "help lists exit" grep -q "^  exit \[N\]" "$TMP/out"
check "help image show is its --help" grep -q "^Usage: rain image show ID|NAME" "$TMP/out"

# ---- -c ------------------------------------------------------------------------
"$RAIN" shell -c "image show 'shell beta'" >"$TMP/out" 2>"$TMP/err"
RC=$?
check_eq "-c runs one line" "0 $BETA" "$RC $(awk '$1 == "id" { print $2 }' "$TMP/out")"
"$RAIN" --json shell -c "image show shell-alpha" >"$TMP/out" 2>"$TMP/err"
check "rain's own options apply to the lines" grep -q "\"id\": \"$ALPHA\"" "$TMP/out"
"$RAIN" shell -c 'image show "shell-alpha' >"$TMP/out" 2>"$TMP/err"
check_eq "-c with a quote left open is a usage error" 2 "$?"
check "naming its column" grep -q "column 12: the double quote here is not closed" "$TMP/err"
"$RAIN" shell -c 'image show nosuch' >"$TMP/out" 2>"$TMP/err"
check_eq "-c ends with the line's status" 1 "$?"
# nothing is expanded, and no shell runs a line
"$RAIN" shell -c "image show \$HOME;touch\\ $TMP/pwned" >"$TMP/out" 2>"$TMP/err"
check "\$HOME is not expanded and ; is a character" \
	grep -qF "no image is named '\$HOME;touch $TMP/pwned'" "$TMP/err"
check "and nothing ran" test ! -e "$TMP/pwned"
"$RAIN" shell x >"$TMP/out" 2>"$TMP/err"
check_eq "rain shell takes no operands" 2 "$?"
"$RAIN" shell --help >"$TMP/out"
check "rain shell --help" grep -q "^Usage: rain shell" "$TMP/out"

# ---- interactive, through a pty --------------------------------------------------
# drive.py ARGS...: run rain shell on a pty; each argument is "s:TEXT"
# (type TEXT; \t, \n, \x03 ... as in Python), "e:REGEX" (wait up to 60 s
# for REGEX in the output since the last match) or "x" (wait for the end
# and print "exit N"); the whole output goes to stdout afterwards, a
# failed expectation to stderr (exit 1)
cat >"$TMP/drive.py" <<'EOF'
import os, pty, re, select, sys, time
rain = os.environ["RAIN"]
pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "vt100"
    os.execv(rain, [rain, "shell"])
out, pos, rc = b"", 0, 0
def read(until):
    global out
    while True:
        left = until - time.time()
        if left <= 0:
            return False
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                d = os.read(fd, 65536)
            except OSError:
                return True
            if not d:
                return True
            out += d
            return False
for step in sys.argv[1:]:
    kind, arg = step[0], step[2:]
    if kind == "s":
        time.sleep(0.2)
        os.write(fd, arg.encode().decode("unicode_escape").encode("latin-1"))
    elif kind == "e":
        end = time.time() + 60
        while True:
            m = re.search(arg.encode(), out[pos:])
            if m:
                pos += m.end()
                break
            if read(end) or time.time() >= end:
                if not re.search(arg.encode(), out[pos:]):
                    sys.stdout.buffer.write(out)
                    print("\nexpected %r after %r" % (arg, out[pos:][-400:]), file=sys.stderr)
                    os.kill(pid, 9)
                    sys.exit(1)
    elif kind == "x":
        end = time.time() + 60
        while not read(end) and time.time() < end:
            pass
        _, st = os.waitpid(pid, 0)
        sys.stdout.buffer.write(out)
        print("\nexit %d" % os.waitstatus_to_exitcode(st))
        sys.exit(0)
sys.stdout.buffer.write(out)
EOF
# drive FILE STEPS...: a session's output in FILE; its status in DRIVE_RC
drive() {
	local f=$1
	shift
	RAIN=$RAIN python3 "$TMP/drive.py" "$@" >"$f" 2>"$f.err"
	DRIVE_RC=$?
	[ "$DRIVE_RC" -eq 0 ] || sed 's/^/#   /' "$f.err" | tail -5
}

rm -rf "$XDG_STATE_HOME"
drive "$TMP/s1" \
	'e:rain> ' \
	's:ima\tsh\tshell-a\t\n' "e:id +$ALPHA" 'e:rain> ' \
	's:image show "shell b\t\n' "e:id +$BETA" 'e:rain> ' \
	's:register shell-alpha --site cl\t' 'e:cloud +cluster' \
	's:\x03' 'e:rain> ' \
	's:image show nosuch\n' "e:no image is named 'nosuch'" 'e:rain> ' \
	's:image show shell-alpha --json\n' "e:\"id\": \"$ALPHA\"" 'e:rain> ' \
	's: version\n' 'e:rain 0\.' 'e:rain> ' \
	's:\x04' 'x'
check_eq "session 1 went as expected" 0 "$DRIVE_RC"
check "it shows the prompt" grep -q "rain> " "$TMP/s1"
check "TAB completed a command, a sub-command and an image name (the line ran)" \
	grep -q "^id  *$ALPHA" "$TMP/s1"
check "TAB completed a name in an open double quote" grep -q "^id  *$BETA" "$TMP/s1"
check "TAB listed the sites that fit" grep -q "cloud  *cluster" "$TMP/s1"
check "Ctrl-D ends the shell with 0" grep -q "^exit 0" "$TMP/s1"

H=$XDG_STATE_HOME/rain/history
check "the history file is written" test -f "$H"
check_eq "the history file is 0600" 600 "$(stat -c %a "$H")"
check_eq "its folder is 0700" 700 "$(stat -c %a "$(dirname "$H")")"
check "the history has the lines typed, completed" grep -q 'image\\040show\\040shell-alpha\\040--json' "$H"
check "and the quoted one" grep -qF 'image\040show\040"shell\040beta"' "$H"
check "a line that starts with a blank is not kept" sh -c "! grep -q 'version' '$H'"

# session 2: Ctrl-P recalls the last line of session 1
drive "$TMP/s2" 'e:rain> ' 's:\x10\n' "e:\"id\": \"$ALPHA\"" 'e:rain> ' 's:exit 4\n' 'x'
check_eq "session 2 went as expected" 0 "$DRIVE_RC"
check "the last line of the session before is recalled and runs" grep -q "\"id\": \"$ALPHA\"" "$TMP/s2"
check "exit N ends it with N" grep -q "^exit 4" "$TMP/s2"
check "the history keeps both sessions" grep -q '^exit\\0404$' "$H"

# a state folder that cannot be made: said once, the session goes on
: >"$TMP/notafolder"
XDG_STATE_HOME=$TMP/notafolder drive "$TMP/s4" 'e:rain> ' 's:version\n' 'e:rain> ' 's:version\n' \
	'e:rain> ' 's:exit\n' 'x'
check_eq "without a history file the session goes on" 0 "$DRIVE_RC"
check_eq "and says so once" 1 "$(grep -c 'cannot keep the history' "$TMP/s4")"
check_eq "both lines ran" 2 "$(grep -c '^rain 0\.' "$TMP/s4")"

# raind not answering: a socket that accepts and never replies; TAB gives
# up after its short limit and offers nothing (a beep), and the prompt is
# usable
command python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)' >"$TMP/silent.port" &
SILENT_PID=$!
for _ in $(seq 1 100); do [ -s "$TMP/silent.port" ] && break; sleep 0.1; done
# first Ctrl-C while TAB waits for raind (the line is dropped, the next
# one runs), then TAB again: raind is not asked again so soon, a beep
RAIN_URL=http://127.0.0.1:$(cat "$TMP/silent.port") drive "$TMP/s3" \
	'e:rain> ' 's:image show sh\t' 's:\x03' 'e:rain> ' 's:version\n' 'e:rain 0\.' 'e:rain> ' \
	's:image show sh\t' 'e:\x07' 's:\x03' 'e:rain> ' 's:exit\n' 'x'
kill "$SILENT_PID"
wait "$SILENT_PID" 2>/dev/null
check_eq "with raind silent, TAB returns, Ctrl-C drops the line and the shell goes on" 0 "$DRIVE_RC"
check "the line after the Ctrl-C ran" grep -q "^rain 0\." "$TMP/s3"
check "it offered nothing" sh -c "! grep -q 'shell-alpha' '$TMP/s3'"
check "the shell ended with exit" grep -q "^exit 0" "$TMP/s3"

test_done
