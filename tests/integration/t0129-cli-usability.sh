#!/bin/bash
# rain's CLI as a new user meets it, against a real raind: sharing an
# image by name (rain image member ..., list --shared/--member-status, a
# pending share shown by name, the owner column), rain whoami, errors that
# name 'rain login', a lock-out told with its end and lifted by an admin
# (rain user show/unlock), and the hints of rain user list/delete.
. "$(dirname "$0")/lib.sh"

if [ ! -x "$RAIN" ]; then
	skip "rain CLI tests" "$RAIN is not built"
	test_done
fi
raind_start || exit 1
ADMIN_TOKEN=$TOKEN
for u in alice bob carol; do
	call POST /rain/v1/users -H 'Content-Type: application/json' \
		-d "{\"name\":\"$u\",\"password\":\"$u-password-1\",\"role\":\"user\",\"status\":\"active\"}"
	check_status "admin creates $u" 201
done

# as USER ARGS...: rain with USER's own config file (logged in there)
# and no RAIN_TOKEN; output in $TMP/out and $TMP/err, exit status kept
as() {
	local u=$1; shift
	env -u RAIN_TOKEN XDG_CONFIG_HOME="$TMP/cfg-$u" "$RAIN" "$@" >"$TMP/out" 2>"$TMP/err"
}
# ok_as USER DESCRIPTION ARGS...: that succeeds
ok_as() {
	local u=$1 what=$2; shift 2
	if as "$u" "$@"; then ok "$what"; else
		not_ok "$what (exit $?)"; sed 's/^/#   /' "$TMP/err" | head -5
	fi
}
# fails_as USER DESCRIPTION REGEX ARGS...: that fails with REGEX on stderr
fails_as() {
	local u=$1 what=$2 re=$3; shift 3
	if as "$u" "$@"; then not_ok "$what (it succeeded)"
	elif grep -Eq -- "$re" "$TMP/err"; then ok "$what"
	else not_ok "$what"; echo "#   no /$re/ in:"; sed 's/^/#   /' "$TMP/err" | head -5; fi
}
login() { printf '%s\n' "$1-password-1" | as "$1" login --user "$1" --password-file -; }
for u in alice bob carol; do
	check "$u logs in with rain login" login $u
done

# ---- 1. sharing by name
head -c 65536 /dev/urandom >"$TMP/shared.raw"
ok_as alice "alice puts an image of visibility shared" image put "$TMP/shared.raw" \
	--name team-disk --disk-format raw --visibility shared
ID=$(api GET "/v2/images?name=team-disk" | head -n -1 | json_get images.0.id)
ok_as alice "rain image list has an Owner column" image list
check "... naming alice" grep -Eq "^$ID +team-disk .* alice " "$TMP/out"
check "... under its header" grep -Eq '^ID +Name .* Owner ' "$TMP/out"
ok_as alice "alice shares it with bob by name" image member add team-disk bob
check_eq "the API has bob's project as a pending member" "bob pending" \
	"$(api GET "/v2/images/$ID/members" | head -n -1 | python3 -c 'import json,sys
print(" ".join(m["member_id"] + " " + m["status"] for m in json.load(sys.stdin)["members"]))')"
fails_as alice "a name that is no project or user is refused clearly" "no project or user is named 'nobody'" \
	image member add team-disk nobody
ok_as alice "rain image member list" image member list team-disk
check "... shows bob pending" grep -Eq '^bob +pending ' "$TMP/out"
ok_as bob "bob's default list does not hold the pending share" image list
check "... (Glance lists accepted shares only)" sh -c "! grep -q team-disk '$TMP/out'"
ok_as bob "rain image list --shared --member-status pending" image list --shared --member-status pending
check "... finds it, owned by alice" grep -Eq "^$ID +team-disk .* alice " "$TMP/out"
fails_as bob "--member-status takes only the four answers" "pending, accepted, rejected or all" \
	image list --member-status maybe
ok_as bob "rain image show NAME finds a pending share" image show team-disk
check "... and shows it" grep -Eq "^id +$ID" "$TMP/out"
fails_as bob "bob cannot add members to alice's image" "only the owner shares" \
	image member add team-disk carol
ok_as bob "bob accepts it by name" image member accept team-disk
ok_as bob "now bob's default list holds it" image list
check "... with its owner" grep -Eq "^$ID +team-disk .* alice " "$TMP/out"
ok_as alice "alice sees bob's answer" image member list team-disk
check "... accepted" grep -Eq '^bob +accepted ' "$TMP/out"
ok_as bob "bob rejects it" image member reject team-disk
ok_as bob "rain image list --shared --member-status rejected" image list --shared --member-status rejected
check "... lists it" grep -q team-disk "$TMP/out"
ok_as alice "alice adds carol too" image member add team-disk carol
ok_as alice "and removes bob" image member remove team-disk bob
ok_as alice "rain image member list --json" image member list team-disk --json
check "... carol alone, pending" python3 -c 'import json,sys
m = json.load(open(sys.argv[1]))["members"]
assert [(x["member_id"], x["status"]) for x in m] == [("carol", "pending")], m' "$TMP/out"
fails_as bob "bob no longer finds it" "no image is named 'team-disk'" image show team-disk
fails_as alice "removing a project that is no member says so" "not shared with bob" \
	image member remove team-disk bob

# ---- 2. who am I, tokens, lock-outs
ok_as alice "rain whoami" whoami
check "... user, project, roles, server, expiry" python3 -c 'import re,sys
t = open(sys.argv[1]).read()
for f in (r"^user +alice$", r"^project +alice$", r"^roles +member$", r"^server +" + re.escape(sys.argv[2]) + "$",
          r"^expires +\d{4}-\d\d-\d\dT[0-9:.]+Z \(in \d+h\d\dm\)$"):
    assert re.search(f, t, re.M), f' "$TMP/out" "$URL"
ok_as alice "rain whoami --json" whoami --json
check "... with the token's expiry" python3 -c 'import json,sys
j = json.load(open(sys.argv[1]))
assert j["user"]["name"] == "alice" and j["project"]["id"] == "alice" and j["expires_at"], j' "$TMP/out"
check "rain whoami with the admin token says so" sh -c "'$RAIN' whoami | grep -q \"admin token\""
fails_as nobody "whoami without a token names rain login" "not logged in.*'rain login'" whoami
fails_as nobody "a command without a token names rain login" "'rain login'" image list
TOK=$(grep -E '^token *=' "$TMP/cfg-carol/rain/config" | sed 's/.*= *//')
curl -sS -o /dev/null -X DELETE -H "X-Auth-Token: $ADMIN_TOKEN" -H "X-Subject-Token: $TOK" "$URL/v3/auth/tokens"
fails_as carol "a revoked token: whoami names rain login" "expired or revoked.*'rain login'" whoami
fails_as carol "a revoked token: image list names rain login" "expired or revoked.*'rain login'" image list
for i in 1 2 3 4 5; do printf 'wrong\n' | as carol login --user carol --password-file -; done
check "wrong passwords say to check them" grep -q "check the user name and password" "$TMP/err"
fails_as carol "a locked-out user is told so and until when" \
	"locked until [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]+Z.*'rain user unlock carol'" \
	login --user carol --password-file "$(printf 'carol-password-1\n' >"$TMP/pw"; echo "$TMP/pw")"
check "rain user show shows the lock-out to an admin" sh -c \
	"'$RAIN' user show carol | grep -Eq '^locked_until +[0-9]{4}-[0-9]{2}-[0-9]{2}T'"
fails_as bob "bob cannot unlock carol" "only admins lift lock-outs" user unlock carol
check "an admin lifts it with rain user unlock" "$RAIN" user unlock carol
check "rain user show: not locked any more" sh -c "'$RAIN' user show carol | grep -Eq '^locked_until +not locked'"
check "carol logs in again" login carol
fails_as bob "a user's rain user list says only admins list users" "only admins list users.*rain whoami" \
	user list
check "... and speaks of no image" sh -c "! grep -q 'image' '$TMP/err'"
check "rain user delete's help says owners of images or builds are refused" sh -c \
	"'$RAIN' user --help | grep -q 'refused while they own images or builds'"
"$RAIN" user delete alice 2>"$TMP/err"
check "deleting an owner of images names rain image list --owner" grep -q "'rain image list --owner alice' lists them" "$TMP/err"

# ---- 3. output formats, "did you mean", completion scripts
check "rain image tag (for --long)" "$RAIN" image tag team-disk blue
"$RAIN" image list --json >"$TMP/a.json"; "$RAIN" image list -f json >"$TMP/b.json"
check "-f json prints what --json prints" cmp "$TMP/a.json" "$TMP/b.json"
"$RAIN" image list -f yaml >"$TMP/l.yaml"
check "-f yaml is the same document as YAML" python3 -c 'import json,sys,yaml
assert yaml.safe_load(open(sys.argv[1])) == json.load(open(sys.argv[2]))' "$TMP/l.yaml" "$TMP/a.json"
"$RAIN" image show team-disk -f yaml >"$TMP/s.yaml"; "$RAIN" image show team-disk --json >"$TMP/s.json"
check "image show -f yaml too (dates and numbers keep their type)" python3 -c 'import json,sys,yaml
assert yaml.safe_load(open(sys.argv[1])) == json.load(open(sys.argv[2]))' "$TMP/s.yaml" "$TMP/s.json"
check_eq "-f value -c id -c name: the cells alone, in that order" "$ID team-disk" \
	"$("$RAIN" image list -f value -c id -c name --name team-disk)"
check_eq "-c takes a header as shown or as a key" "raw raw" \
	"$("$RAIN" image list -f value -c 'Disk format' -c disk_format --name team-disk)"
check_eq "image show -c name -c owner -f value: the values, one a line" "team-disk alice" \
	"$("$RAIN" image show team-disk -c name -c owner -f value | tr '\n' ' ' | sed 's/ $//')"
"$RAIN" image show team-disk -c name -c status >"$TMP/out"
check "image show -c picks the rows of the Field/Value table" python3 -c 'import sys
l = open(sys.argv[1]).read().split("\n")
assert l[0].split() == ["Field", "Value"] and l[1].split() == ["name", "team-disk"] and l[2].split() == ["status", "active"] and l[3] == "", l' "$TMP/out"
"$RAIN" image list -f json -c name -c owner --name team-disk >"$TMP/out"
check "-f json -c keeps only those keys" python3 -c 'import json,sys
assert json.load(open(sys.argv[1])) == [{"name": "team-disk", "owner": "alice"}]' "$TMP/out"
"$RAIN" user list -f yaml -c name >"$TMP/out"
check "user list -f yaml -c name" python3 -c 'import sys,yaml
j = yaml.safe_load(open(sys.argv[1]))
assert {"alice", "bob", "carol"} <= {u["name"] for u in j["users"]} and all(list(u) == ["name"] for u in j["users"]), j' "$TMP/out"
"$RAIN" image list -c bogus >"$TMP/out" 2>"$TMP/err"
check_eq "a column that is none exits 2" 2 $?
check "... listing the columns there are" grep -q "no column 'bogus'; the columns are: 'ID', 'Name'" "$TMP/err"
"$RAIN" image list -f xml >"$TMP/out" 2>"$TMP/err"
check_eq "-f xml exits 2" 2 $?
check "... naming the formats" grep -q "table, json, yaml or value" "$TMP/err"
"$RAIN" image list --long --name team-disk >"$TMP/out"
check "image list --long adds columns (tags, protected, created)" python3 -c 'import sys
h, r = open(sys.argv[1]).read().split("\n")[:2]
for c in ("Container format", "Min disk", "Protected", "Tags", "Created"):
    assert c in h, c
assert " blue " in r, r' "$TMP/out"
"$RAIN" user list --long -f value -c name -c 'locked until' >"$TMP/out"
check "user list --long has a Locked until column" grep -q '^carol -$' "$TMP/out"
"$RAIN" image lst >"$TMP/out" 2>"$TMP/err"
check_eq "rain image lst exits 2" 2 $?
check "... asking: did you mean 'list'?" grep -q "unknown command 'lst' (did you mean 'list'?)" "$TMP/err"
"$RAIN" imgae list >"$TMP/out" 2>"$TMP/err"
check "rain imgae: did you mean 'image'? (a swap)" grep -q "did you mean 'image'?" "$TMP/err"
"$RAIN" image list --visibilty shared >"$TMP/out" 2>"$TMP/err"
check "a mistyped option: did you mean '--visibility'?" grep -q "unknown option '--visibilty' (did you mean '--visibility'?)" "$TMP/err"
"$RAIN" image frobnicate >"$TMP/out" 2>"$TMP/err"
check "a word close to none gets no guess" sh -c "! grep -q 'did you mean' '$TMP/err'"
"$RAIN" completion bash >"$TMP/rain.bash"
check "rain completion bash is valid bash" bash -n "$TMP/rain.bash"
comp() {
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _rain; echo "${COMPREPLY[*]}"' \
		_ "$TMP/rain.bash" "$@"
}
check_eq "bash: rain im<TAB> completes image" "image" "$(comp rain im)"
check_eq "bash: rain image m<TAB> offers member" "member" "$(comp rain image m)"
check_eq "bash: rain image member <TAB> offers its sub-commands" "add remove list accept reject" \
	"$(comp rain image member '')"
check_eq "bash: an alias leads on (rain image ls --vis<TAB>)" "--visibility" "$(comp rain image ls --vis)"
check_eq "bash: -f <TAB> offers the formats" "table json yaml value" "$(comp rain --url x image show -f '')"
check_eq "bash: image names come from the server" "team-disk" \
	"$(PATH=$(dirname "$RAIN"):$PATH comp rain image show team-)"
: >"$TMP/recipe-for-completion.yaml"
check_eq "bash: files where a file goes" "$TMP/recipe-for-completion.yaml" "$(comp rain generate "$TMP/recipe-for-")"
if command -v zsh >/dev/null; then
	"$RAIN" completion zsh >"$TMP/rain.zsh"
	check "rain completion zsh is valid zsh" zsh -n "$TMP/rain.zsh"
	check_eq "zsh: loaded after compinit, it completes rain's words" "_rain|table json yaml value|add remove list accept reject" \
		"$(zsh -c 'autoload -U compinit; compinit -u -d "$1/zcd"; source "$1/rain.zsh"
		__rain_walk image ls -f; __rain_candidates ""; a=$__rain_words
		__rain_walk image member; __rain_candidates ""; echo "${_comps[rain]}|$a|$__rain_words"' _ "$TMP")"
else
	skip "zsh completion" "zsh is missing (scripts/install-deps.sh installs it)"
fi

# ---- 4. what a build stores, shown readably; rain image get
# the properties rain generate --store sets (rain/build-image.h; made by a
# real build in t0100 and t0110), set here through the API
MOTD=$(printf 'hello\n' | base64)
patch_image "$ID" "[{\"op\": \"add\", \"path\": \"/rain_recipe\", \"value\": \"[image]\\nname = team-disk\\ndistribution = debian\\n\\n[files]\\n/etc/motd = motd\\n\"},
 {\"op\": \"add\", \"path\": \"/rain_recipe_inputs\", \"value\": \"{\\\"motd\\\": {\\\"data\\\": \\\"$MOTD\\\", \\\"mode\\\": 420}}\"},
 {\"op\": \"add\", \"path\": \"/rain_packages\", \"value\": \"3\"},
 {\"op\": \"add\", \"path\": \"/rain_package_list\", \"value\": \"adduser 3.134 all\\ncurl 7.88.1-10+deb12u5 amd64\\n\"},
 {\"op\": \"add\", \"path\": \"/rain_package_list_2\", \"value\": \"zlib1g 1:1.2.13.dfsg-1 amd64\\n\"}]"
check_status "the build's properties are set" 200
"$RAIN" image show team-disk >"$TMP/out"
check "image show: the recipe as its lines, no '?' for newlines" python3 -c 'import re,sys
t = open(sys.argv[1]).read()
assert re.search(r"^rain_recipe +\[image\]\n +name = team-disk\n +distribution = debian\n", t, re.M), t
assert "?" not in t, t' "$TMP/out"
check "image show: the inputs by name and size, not base64" python3 -c 'import re,sys
t = open(sys.argv[1]).read()
assert re.search(r"^rain_recipe_inputs +motd \(6 bytes, mode 0644\)$", t, re.M), t
assert sys.argv[2] not in t, t' "$TMP/out" "$MOTD"
check "image show: the package list is not dumped into the table" sh -c "! grep -q 'rain_package_list\|curl' '$TMP/out'"
check_eq "image show -c rain_recipe -f value: the recipe text" \
	"$(printf '[image]\nname = team-disk\ndistribution = debian\n\n[files]\n/etc/motd = motd')" \
	"$("$RAIN" image show team-disk -c rain_recipe -f value)"
"$RAIN" image show team-disk --packages >"$TMP/out"
check "image show --packages: every package with its version (all parts)" python3 -c 'import sys
l = [x.split() for x in open(sys.argv[1]).read().splitlines()]
assert l == [["Package", "Version", "Architecture"], ["adduser", "3.134", "all"],
             ["curl", "7.88.1-10+deb12u5", "amd64"], ["zlib1g", "1:1.2.13.dfsg-1", "amd64"]], l' "$TMP/out"
"$RAIN" image show team-disk --packages --json >"$TMP/out"
check "image show --packages --json" python3 -c 'import json,sys
j = json.load(open(sys.argv[1]))
assert j[1] == {"name": "curl", "version": "7.88.1-10+deb12u5", "architecture": "amd64"}, j' "$TMP/out"
"$RAIN" image put "$TMP/shared.raw" --name plain-disk --disk-format raw -q >/dev/null
"$RAIN" image show plain-disk --packages >"$TMP/out" 2>"$TMP/err"
check "--packages of an image without a list says why" grep -q "has no stored package list" "$TMP/err"
mkdir -p "$TMP/dl" && cd "$TMP/dl" || exit 1
"$RAIN" image get plain-disk >"$TMP/out" 2>"$TMP/err"
check_eq "rain image get saves with the format's extension" "$(sha256sum <"$TMP/shared.raw")" \
	"$(sha256sum <plain-disk.raw 2>/dev/null)"
check "... printing no table on stdout" test ! -s "$TMP/out"
check "... but one line saying what it gets, where" grep -q "getting plain-disk (.*raw, 64.0 KiB) to plain-disk.raw" "$TMP/err"
qemu-img create -f qcow2 "$TMP/q.qcow2" 1M >/dev/null 2>&1
"$RAIN" -q image put "$TMP/q.qcow2" --name small.qcow2 >/dev/null
check "a name that ends in the extension keeps it" "$RAIN" -q image get small.qcow2
check "... (small.qcow2, not small.qcow2.qcow2)" test -s small.qcow2 -a ! -e small.qcow2.qcow2
cd "$TMP" || exit 1

# ---- 5. rain generate --force and --store's checks (failing fast: no real build)
printf '[image]\nname = nomirror\ndistribution = debian\nmirror = http://127.0.0.1:9/debian\n[output]\nformats = tar\n' \
	>"$TMP/nomirror.recipe"
mkdir -p "$TMP/gen" && echo "a failed build's log" >"$TMP/gen/build.log" && echo stale >"$TMP/gen/stale"
"$RAIN" generate "$TMP/nomirror.recipe" -o "$TMP/gen" >/dev/null 2>"$TMP/err"
check "an output folder left by a build stops the next one" grep -q "exists already; give --force" "$TMP/err"
mkdir -p "$TMP/mine" && echo keep >"$TMP/mine/precious"
"$RAIN" generate "$TMP/nomirror.recipe" -o "$TMP/mine" --force >/dev/null 2>"$TMP/err"
check "--force does not remove a folder no build left" grep -q "not a folder a build left" "$TMP/err"
check "... which stays" test -s "$TMP/mine/precious"
"$RAIN" --url http://127.0.0.1:1 generate "$TMP/nomirror.recipe" -o "$TMP/gen" --force --store \
	>/dev/null 2>"$TMP/err"
check "--store with an unreachable server fails before building" grep -q "nothing was built.*127.0.0.1:1" "$TMP/err"
check "... and --force had replaced the old folder only after the checks passed" test -e "$TMP/gen/stale"
RAIN_TOKEN=0123456789abcdef "$RAIN" generate "$TMP/nomirror.recipe" -o "$TMP/gen2" --store \
	>/dev/null 2>"$TMP/err"
check "--store with a bad token fails before building, naming rain login" \
	grep -q "nothing was built.*'rain login'" "$TMP/err"
check "... leaving no output folder" test ! -e "$TMP/gen2"

# ---- 6. hints and help that say what is so
"$RAIN" version --help >"$TMP/out"
check "rain version --help is help, not the version" grep -q '^Usage: rain version' "$TMP/out"
check "rain image deactivate --help: owners may too" sh -c "'$RAIN' image --help | grep -q 'deactivate .*(owner or admin)'"
printf 'this is no qcow2 image at all, just text\n%.0s' $(seq 1 200) >"$TMP/fake.qcow2"
"$RAIN" image put "$TMP/fake.qcow2" --name fake --disk-format qcow2 >/dev/null 2>"$TMP/err"
check "a wrong-format put hints at put --disk-format, not at the deleted image" \
	grep -q "put it again with the right one ('rain image put $TMP/fake.qcow2 --disk-format FORMAT'" "$TMP/err"
check "... and no 'rain image show ID'" sh -c "! grep -q 'rain image show [0-9a-f]' '$TMP/err'"

# ---- named profiles: clouds.yaml entries for several users of this raind
cat >"$TMP/clouds.yaml" <<EOF
clouds:
  lab-bob:
    auth:
      auth_url: $URL/v3
      username: bob
      password: bob-password-1
      project_name: bob
      user_domain_name: Default
      project_domain_name: Default
  lab-carol:
    auth:
      auth_url: $URL/v3
      username: carol
      password: carol-password-1
      project_name: carol
EOF
export OS_CLIENT_CONFIG_FILE=$TMP/clouds.yaml
check_eq "rain --os-cloud lab-bob whoami: bob, through his cloud entry" "bob $TMP/clouds.yaml" \
	"$(env -u RAIN_URL -u RAIN_TOKEN "$RAIN" --os-cloud lab-bob whoami -f value -c user -c 'token from' | tr '\n' ' ' | sed 's/ $//')"
check_eq "OS_CLOUD=lab-carol: carol's view (the share she was given, pending)" "team-disk" \
	"$(env -u RAIN_URL -u RAIN_TOKEN OS_CLOUD=lab-carol "$RAIN" image list --shared --member-status pending -f value -c name)"
env -u RAIN_URL -u RAIN_TOKEN "$RAIN" --os-cloud lab-nobody image list >"$TMP/out" 2>"$TMP/err"
check "an unknown cloud names those there are" grep -q "has no cloud 'lab-nobody' (it has: lab-bob, lab-carol)" "$TMP/err"
check "RAIN_URL and RAIN_TOKEN win over OS_CLOUD" sh -c \
	"OS_CLOUD=lab-bob '$RAIN' whoami | grep -q 'admin token'"
unset OS_CLIENT_CONFIG_FILE

# ---- a remote build shows the status lines of a local one (on a terminal:
# script(1) gives it one); this build fails at once on its mirror
if [ "$(id -u)" -eq 0 ] && command -v script >/dev/null; then
	script -qec "'$RAIN' generate '$TMP/nomirror.recipe' --remote" /dev/null >"$TMP/tty.out" 2>&1
	check "a remote build on a terminal: one status line per stage, with its time" \
		grep -q $'\r\033\\[K\\[0:[0-9][0-9]\\] building debian bookworm' "$TMP/tty.out"
	check "... and not the lines a local build keeps in build.log" sh -c "! grep -q '^limits: \|^ids: ' '$TMP/tty.out'"
	"$RAIN" generate "$TMP/nomirror.recipe" --remote >/dev/null 2>"$TMP/err"
	check "without a terminal every line, as before" grep -q '^limits: ' "$TMP/err"
	# a build's outputs: the failed one has its build.log, fetched as is
	BID=$("$RAIN" build list -f value -c id | head -n 1)
	check "rain build get ID build.log fetches a failed build's log" "$RAIN" -q build get "$BID" build.log -o "$TMP"
	check "... the server's copy" cmp "$TMP/build.log" "$DATA/builds/$BID/out/build.log"
	check_eq "a name with .. is no output (404)" 404 "$(status_of GET "/rain/v1/builds/$BID/files/..%2Fbuild.json")"
	TOKEN=$(token_of bob bob-password-1) call GET "/rain/v1/builds/$BID/files/build.log"
	check_status "another user's build's files are 404" 404
	"$RAIN" build get "$BID" >"$TMP/out" 2>"$TMP/err"
	check "rain build get of a build without outputs says so" grep -q "has no outputs (status failed)" "$TMP/err"
else
	skip "remote build status lines" "needs root (raind's builds) and script(1)"
fi

test_done
