#!/bin/bash
# The web catalog (/ui/, raind(8) WEB CATALOG) against a real raind: the
# log-in form and its CSRF check, the session cookie's attributes, search,
# an image page with a real vetting report, the API's access rules (a
# user's page never shows another's private image, an admin page is 403
# to a user), escaping of a name that is markup, the security headers,
# log-out revoking the token, [server] web_ui; then the same walk in
# headless Chromium over the DevTools protocol, with screenshots kept in
# the build folder (BUILD/test-artifacts/t0197-web-catalog).
source "$(dirname "$0")/lib.sh"
cd "$TMP" || exit 1
ART=$BUILD/test-artifacts/t0197-web-catalog
rm -rf "$ART"
mkdir -p "$ART"

# ---- configuration: web_ui refused when it is no boolean, off when false
printf '[server]\nweb_ui = maybe\n' >"$TMP/bad.ini"
started=no
DATA=$TMP/baddata raind_start --config "$TMP/bad.ini" >/dev/null 2>&1 && { started=yes; raind_stop; }
check_eq "raind refuses web_ui = maybe" no "$started"
check "the error names the key" grep -q "web_ui must be true or false" "$TMP/raind.log"
printf '[server]\nweb_ui = false\n' >"$TMP/off.ini"
DATA=$TMP/offdata raind_start --config "$TMP/off.ini" || exit 1
call_noauth GET /ui/login
check_eq "web_ui = false: no /ui/" 404 "$STATUS"
raind_stop
# over TLS the cookies are Secure
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" \
	-days 2 -subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
DATA=$TMP/tlsdata raind_start --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" || exit 1
curl -sS --cacert "$TMP/cert.pem" -D "$TMP/tls.h" -o /dev/null "https://127.0.0.1:$PORT/ui/login"
check "over TLS the login cookie is Secure" \
	grep -qi '^Set-Cookie: rain_login=.*; HttpOnly; SameSite=Strict; Secure' "$TMP/tls.h"
raind_stop

# a container site for a run whose log the browser follows live (needs
# root, ch-run and a static busybox, as t0165; else that part is skipped)
: >"$TMP/raind.ini"
LIVE=no
if [ "$(id -u)" = 0 ] && command -v ch-run >/dev/null && [ -x /bin/busybox ] &&
	file -L /bin/busybox | grep -q static; then
	T=$TMP/tree
	mkdir -p "$T/bin" "$T/etc" "$T/root" "$T/tmp"
	cp /bin/busybox "$T/bin/busybox"
	for c in sh echo sleep; do ln -s busybox "$T/bin/$c"; done
	printf 'PRETTY_NAME="rain t0197 busybox"\nID=t0197\n' >"$T/etc/os-release"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$T/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$T/etc/group"
	truncate -s 32M "$TMP/disk.raw"
	printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q "$TMP/disk.raw"
	mke2fs -q -F -t ext4 -E offset=1048576 -d "$T" "$TMP/disk.raw" 30M
	chmod 711 "$TMP"
	mkdir -p "$TMP/box"
	printf '[site.box]\nuri = container:%s/box\n' "$TMP" >"$TMP/raind.ini"
	LIVE=yes
fi
raind_start --config "$TMP/raind.ini" || exit 1

# ---- a user, an admin, images, a vetting report --------------------------
call POST /rain/v1/users -H 'Content-Type: application/json' -d '{"name":"bob","password":"bob-secret-1"}'
check_eq "user bob is made" 201 "$STATUS"
call POST /rain/v1/users -H 'Content-Type: application/json' \
	-d '{"name":"carol","password":"carol-secret-1","role":"admin"}'
check_eq "admin carol is made" 201 "$STATUS"
BOB=$(token_of bob bob-secret-1)
as_bob() { local m=$1 p=$2; shift 2; _split_reply "$(curl -sS -X "$m" -H "X-Auth-Token: $BOB" -w '\n%{http_code}' "$@" "$URL$p"; echo x)"; }

# a small tree with an empty root password: vetting fails it at once
R=$TMP/root
mkdir -p "$R/etc" "$R/usr/bin" "$R/var/lib/dpkg"
printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n' >"$R/etc/os-release"
printf 'root:x:0:0:root:/root:/bin/bash\n' >"$R/etc/passwd"
printf 'root::19000:0:99999:7:::\n' >"$R/etc/shadow"
: >"$R/var/lib/dpkg/status"
tar -C "$R" -cf "$TMP/root.tar" .
as_bob POST /v2/images -H 'Content-Type: application/json' \
	-d '{"name":"web-tree","disk_format":"raw","container_format":"bare","os_distro":"debian"}'
TREE=$(json_get id <<<"$BODY")
as_bob PUT "/v2/images/$TREE/tags/webtest"
as_bob PUT "/v2/images/$TREE/file" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/root.tar"
check_eq "bob's tree is stored" 204 "$STATUS"
as_bob POST "/rain/v1/images/$TREE/vet"
check_eq "bob may vet it" 202 "$STATUS"
JOB=$(json_get id <<<"$BODY")
st=$(job_wait "$JOB")
check_eq "the vetting job succeeds" succeeded "$st"
# a recipe to show (set after the vetting, which would read it)
as_bob PATCH "/v2/images/$TREE" -H 'Content-Type: application/openstack-images-v2.1-json-patch' \
	-d '[{"op":"add","path":"/rain_recipe","value":"[image]\nname = web-tree\ndistribution = debian\n"}]'
check_eq "a recipe is stored with it" 200 "$STATUS"
# a package manifest as builds store it (rain/build-image.h), when a user
# may still set it (builds may own the name some day: then not checked)
as_bob PATCH "/v2/images/$TREE" -H 'Content-Type: application/openstack-images-v2.1-json-patch' \
	-d '[{"op":"add","path":"/rain_package_list","value":"bash 5.2.15-2+b2 amd64\nlib<x> 1.0 all\n"},{"op":"add","path":"/rain_package_list_2","value":"zlib1g 1:1.2.13 amd64\n"}]'
MANIFEST=$STATUS
as_bob POST /v2/images -H 'Content-Type: application/json' \
	-d '{"name":"<script>alert(1)</script>","disk_format":"raw","container_format":"bare","visibility":"private","description":"a \"quoted\" <b>value</b> & more"}'
MARKUP=$(json_get id <<<"$BODY")
SECRET=$(create_image admin-private '"visibility":"private"')

# ---- the log-in form and its CSRF check (curl with a cookie jar) ---------
JAR=$TMP/jar
curl -sS -c "$JAR" -b "$JAR" -D "$TMP/login.h" -o "$TMP/login.html" "$URL/ui/login"
CSRF=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$TMP/login.html")
check "the login form carries a CSRF token" test ${#CSRF} -eq 64
check "its cookie is HttpOnly, SameSite=Strict, Path=/ui" \
	grep -qi '^Set-Cookie: rain_login=[0-9a-f]*; Path=/ui; HttpOnly; SameSite=Strict' "$TMP/login.h"
login() {  # login CSRF USER PASSWORD: the status; headers in $TMP/post.h
	curl -sS -c "$JAR" -b "$JAR" -D "$TMP/post.h" -o "$TMP/post.html" -w '%{http_code}' \
		--data-urlencode "csrf=$1" --data-urlencode "user=$2" --data-urlencode "password=$3" \
		"$URL/ui/login"
}
check_eq "a login with a wrong CSRF token is refused" 403 "$(login "${CSRF%?}x" bob bob-secret-1)"
check "... and no session is set" bash -c "! grep -qi '^Set-Cookie: rain_session' '$TMP/post.h'"
CSRF=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$TMP/post.html")
check_eq "a wrong password is refused" 401 "$(login "$CSRF" bob wrong-password)"
check "... saying so" grep -q "Wrong user name or password" "$TMP/post.html"
CSRF=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$TMP/post.html")
check_eq "the right password logs in" 303 "$(login "$CSRF" bob bob-secret-1)"
check "the session cookie is HttpOnly, SameSite=Strict, Path=/ui" \
	grep -qi '^Set-Cookie: rain_session=[0-9a-f]*; Path=/ui; HttpOnly; SameSite=Strict' "$TMP/post.h"
check "the login is audited as bob's" bash -c \
	"curl -sS -H 'X-Auth-Token: $TOKEN' '$URL/rain/v1/audit?actor=bob' | grep -q '/ui/login'"

page() {  # page PATH: the status; the page in $TMP/page.html, headers in $TMP/page.h
	curl -sS -b "$JAR" -D "$TMP/page.h" -o "$TMP/page.html" -w '%{http_code}' "$URL$1"
}
check_eq "the image list" 200 "$(page /ui/images)"
check "a strict Content-Security-Policy" grep -qi "^Content-Security-Policy: default-src 'none'; script-src 'self'" "$TMP/page.h"
check "authenticated pages are not cached" grep -qi '^Cache-Control: no-store' "$TMP/page.h"
check "no inline script" bash -c "! grep -q '<script>' '$TMP/page.html'"
check "bob sees his image" grep -q ">web-tree</a>" "$TMP/page.html"
check "bob does not see the admin's private image" bash -c "! grep -q 'admin-private' '$TMP/page.html'"
check_eq "search by name" 200 "$(page '/ui/images?q=tree')"
check "finds web-tree" grep -q ">web-tree</a>" "$TMP/page.html"
check "and only it" bash -c "! grep -q 'alert' '$TMP/page.html'"
check_eq "search by tag" 200 "$(page '/ui/images?tag=webtest&visibility=any')"
check "finds the tagged image" grep -q ">web-tree</a>" "$TMP/page.html"
check_eq "a tag nobody has" 200 "$(page '/ui/images?tag=nothing')"
check "finds nothing" grep -q "No image matches" "$TMP/page.html"
check_eq "paging: one a page" 200 "$(page '/ui/images?limit=1')"
check "a next link" grep -q 'rel="next" href="/ui/images?marker=' "$TMP/page.html"
check_eq "a bad visibility" 400 "$(page '/ui/images?visibility=nope')"

check_eq "the image page" 200 "$(page "/ui/images/$TREE")"
check "shows the verdict" grep -q 'class="verdict failed">failed<' "$TMP/page.html"
check "names the failing rule" grep -q '<strong>empty-password</strong>' "$TMP/page.html"
check "shows the recipe as text" grep -q 'name = web-tree' "$TMP/page.html"
if [ "$MANIFEST" = 200 ]; then
	check "shows the package manifest, both parts" grep -q '<tr><td>bash</td><td>5.2.15-2+b2</td><td>amd64</td></tr>.*' "$TMP/page.html"
	check "... escaped" grep -q '<tr><td>lib&lt;x&gt;</td><td>1.0</td><td>all</td></tr>' "$TMP/page.html"
	check "... and counted" grep -q '<p>3 packages.</p>' "$TMP/page.html"
else
	skip "the package manifest" "users may not set rain_package_list ($MANIFEST)"
fi
check "shows its history (the vetting request)" grep -q "POST /rain/v1/images/$TREE/vet" "$TMP/page.html"
check "shows the tag" grep -q '<span class="tag">webtest</span>' "$TMP/page.html"
check_eq "the admin's private image is 404 to bob" 404 "$(page "/ui/images/$SECRET")"

check_eq "the image whose name is markup" 200 "$(page "/ui/images/$MARKUP")"
check "its name is escaped" grep -q '&lt;script&gt;alert(1)&lt;/script&gt;' "$TMP/page.html"
check "never raw" bash -c "! grep -q '<script>alert' '$TMP/page.html'"
check "quotes and ampersands escaped" grep -q 'a &quot;quoted&quot; &lt;b&gt;value&lt;/b&gt; &amp; more' "$TMP/page.html"

check_eq "the users page is 403 to a user" 403 "$(page /ui/users)"
check "with the API's reason" grep -q "Only admins list users" "$TMP/page.html"
check_eq "the audit page is 403 to a user" 403 "$(page /ui/audit)"
check_eq "bob's account page" 200 "$(page /ui/users/BOB)"
check "shows his history: the upload" grep -q "PUT /v2/images/$TREE/file" "$TMP/page.html"
check_eq "another's account page is 403 to a user" 403 "$(page /ui/users/carol)"
check "with the API's reason" grep -q "Only the user and admins read a user" "$TMP/page.html"
check_eq "bob's usage" 200 "$(page /ui/usage)"
check "shows his images against no limit" grep -q "of no limit" "$TMP/page.html"
check_eq "the jobs page" 200 "$(page /ui/jobs)"
check "lists the vetting" grep -q "$JOB" "$TMP/page.html"
check_eq "the job's page" 200 "$(page "/ui/jobs/$JOB")"
check "shows its log" grep -q "vetting image $TREE" "$TMP/page.html"
check "a finished job is not followed" bash -c "! grep -q 'data-follow' '$TMP/page.html'"
check_eq "the job's log from an offset" 200 "$(page "/ui/jobs/$JOB/log?offset=1")"
curl -sS -H "X-Auth-Token: $TOKEN" -o "$TMP/api.log" "$URL/rain/v1/jobs/$JOB/log?offset=1"
check "is the API's log" cmp "$TMP/api.log" "$TMP/page.html"
check_eq "the builds page" 200 "$(page /ui/builds)"
check_eq "the runs page" 200 "$(page /ui/runs)"
check_eq "the registrations page" 200 "$(page /ui/registrations)"
check_eq "the style sheet" 200 "$(page /ui/static/rain.css)"
check "is CSS" grep -qi '^Content-Type: text/css' "$TMP/page.h"
check_eq "the script" 200 "$(page /ui/static/rain.js)"

# ---- log out: the CSRF check, then the token is revoked ------------------
SESSION=$(awk '$6 == "rain_session" {print $7}' "$JAR")
page /ui/images >/dev/null
LCSRF=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$TMP/page.html")
out() { curl -sS -b "$JAR" -c "$JAR" -o "$TMP/out.html" -w '%{http_code}' --data-urlencode "csrf=$1" "$URL/ui/logout"; }
check_eq "log-out without the right CSRF token is refused" 403 "$(out "${LCSRF%?}x")"
check "the session still works" test "$(page /ui/images)" = 200
check_eq "log-out" 303 "$(out "$LCSRF")"
STATUS=$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $SESSION" "$URL/v2/images")
check_eq "the session's token is revoked" 401 "$STATUS"
STATUS=$(curl -sS -o /dev/null -w '%{http_code}' --cookie "rain_session=$SESSION" "$URL/ui/images")
check_eq "the old cookie leads to the login page" 303 "$STATUS"

# ---- an admin sees the admin pages ---------------------------------------
rm -f "$JAR"
curl -sS -c "$JAR" -b "$JAR" -o "$TMP/login.html" "$URL/ui/login"
CSRF=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$TMP/login.html")
check_eq "carol logs in" 303 "$(login "$CSRF" carol carol-secret-1)"
check_eq "the users page for an admin" 200 "$(page /ui/users)"
check "lists bob with his quota" grep -q '>bob</a></td><td>user</td><td>active</td><td>.* of 8.0 GiB' "$TMP/page.html"
check "links each user to the account page" grep -q '<a href="/ui/users/bob">bob</a>' "$TMP/page.html"
check_eq "an admin opens bob's account page" 200 "$(page /ui/users/bob)"
check_eq "an unknown user is 404" 404 "$(page /ui/users/nobody-here)"
check_eq "the audit page for an admin" 200 "$(page '/ui/audit?actor=bob')"
check "shows bob's changes" grep -q "/v2/images/$TREE/file" "$TMP/page.html"
check_eq "an admin sees any image" 200 "$(page "/ui/images/$SECRET")"

# ---- the same in a real browser ------------------------------------------
# Debian's python3, which has python3-websocket (not a version manager's)
PYDEB=/usr/bin/python3
if ! command -v chromium >/dev/null || ! "$PYDEB" -c 'import websocket' 2>/dev/null; then
	skip "headless Chromium" "chromium or python3-websocket is missing (scripts/install-deps.sh)"
	test_done
fi
# a run that is still going when the browser opens its page
RUN= RELEASE=
if [ "$LIVE" = yes ]; then
	BOX=$(TOKEN=$BOB create_image t0197-box)
	check_eq "bob uploads a busybox disk" 204 "$(TOKEN=$BOB upload "$BOX" "$TMP/disk.raw")"
	as_bob POST /rain/v1/registrations -H 'Content-Type: application/json' \
		-d '{"image":"'"$BOX"'","site":"box"}'
	check_status "bob registers it at the container site" 202
	REG=$(json_get id <<<"$BODY")
	check_eq "the registration succeeds" succeeded "$(job_wait "$REG")"
	# the run ends when the browser, following its log, makes /root/release
	# in the site's tree: no race with a slow browser
	RELEASE=$TMP/box/$REG/root/release
	as_bob POST /rain/v1/runs -H 'Content-Type: application/json' \
		-d '{"image":"'"$BOX"'","site":"box","walltime":300,"command":["sh","-c","echo run-start; while [ ! -e /root/release ]; do sleep 0.5; done; echo run-end"]}'
	if printf '%s' "$BODY" | grep -q "no provider"; then
		skip "a live log" "rain has no container provider"
	else
		check_status "bob starts a run" 202
		RUN=$(json_get id <<<"$BODY")
		rm -f "$JAR"
		curl -sS -c "$JAR" -b "$JAR" -o "$TMP/login.html" "$URL/ui/login"
		CSRF=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$TMP/login.html")
		login "$CSRF" bob bob-secret-1 >/dev/null
		check_eq "the running run's page" 200 "$(page "/ui/runs/$RUN")"
		check "says it is running, with a reload link for no script" grep -q 'still running.*<a href="">reload</a>' "$TMP/page.html"
		check "and marks the log to follow" grep -q "data-follow=\"/ui/runs/$RUN/log\"" "$TMP/page.html"
		check "links the run's image" grep -q "<a href=\"/ui/images/$BOX\">$BOX</a>" "$TMP/page.html"
	fi
fi
timeout 150 "$PYDEB" "$TOP/tests/integration/webdriver.py" "$URL" bob bob-secret-1 web "$ART" "$RUN" "${RELEASE:-}" \
	>"$TMP/browser.out" 2>"$TMP/browser.err"
check_eq "the browser walk ends" 0 "$?"
sed 's/^/# browser: /' "$TMP/browser.out"
fact() { sed -n "s/^$1 //p" "$TMP/browser.out" | head -n 1; }
check_eq "an unauthenticated page leads to the login page" /ui/login "$(fact login_redirect)"
check_eq "the login form leads to the images" /ui/images "$(fact after_login)"
check_eq "the header names the user" bob "$(fact who)"
check_eq "the session cookie is out of the script's reach" '""' "$(fact cookie_visible)"
check_eq "the style sheet applies" "rgb(23, 32, 47)" "$(fact header_bg)"
check_eq "the search form searches" "?q=web&tag=&owner=&visibility=any" "$(fact search_url)"
check_eq "it finds web-tree" '["web-tree"]' "$(fact search_names)"
check_eq "its link opens the image" "/ui/images/$TREE" "$(fact image_path)"
check_eq "the image's name" '"web-tree"' "$(fact image_name)"
check_eq "the vetting verdict" failed "$(fact verdict)"
check "the failing rules" grep -q '^failing .*"empty-password"' "$TMP/browser.out"
check_eq "a name that is markup is text" '"<script>alert(1)</script>"' "$(fact script_text)"
check_eq "and makes no element" 0 "$(fact script_elements)"
check_eq "the users page refuses bob" Forbidden "$(fact users_h1)"
check "the job page (the newest of bob's jobs: a vetting, a registration or a run) shows its log" \
	grep -Eq '^job_log "(== raind: (vetting|registering) image|rain: raind: run )' "$TMP/browser.out"
check_eq "the page's script streams the log as the page shows it" true "$(fact follow_same)"
check_eq "log-out leads to the login page" /ui/login "$(fact after_logout)"
check_eq "and the session is gone" /ui/login "$(fact after_logout_images)"
if [ -n "$RUN" ]; then
	check_eq "the running run's page marks its log to follow" True "$(fact live_follow)"
	check_eq "the run's page follows its log as it is written" yes "$(fact live_end)"
	check_eq "and says when it ended" "The job has finished: reload the page for its final record." "$(fact live_state)"
fi
check "the browser reported no error (CSP, script, dialog)" bash -c "! grep -q '^error' '$TMP/browser.out'"
check "screenshots are kept" test "$(ls "$ART"/*.png | wc -l)" -ge 6
check "a screenshot is a PNG" bash -c "head -c 8 '$ART/04-image.png' | od -An -tx1 | grep -q '89 50 4e 47'"
test_done
