#!/bin/bash
# Listing: 2,100 images paged through with next links, filters (name,
# property, tag, status, visibility, size), sorting (sort_key/sort_dir and
# sort=k:dir,...), and the errors of bad list parameters.
source "$(dirname "$0")/lib.sh"

N=${N_IMAGES:-2100}
raind_start || { not_ok "raind starts"; test_done; }
ok "raind starts"

# The client side runs in one python3 process (keep-alive connection);
# it prints "PASS what", "FAIL what" and "# detail" lines, turned into
# checks here.
run_py() {
	local line
	while IFS= read -r line; do
		case $line in
		"PASS "*) ok "${line#PASS }" ;;
		"FAIL "*) not_ok "${line#FAIL }" ;;
		*) echo "$line" ;;
		esac
	done < <(python3 - "$PORT" "$TOKEN" "$N" "$@" 2>&1 <<'PY'
import http.client, json, sys, time, urllib.parse, uuid

port, token, N = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

def req(method, path, body=None, ctype="application/json", raw=False):
    global conn
    headers = {"X-Auth-Token": token}
    if body is not None:
        headers["Content-Type"] = ctype
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
    for attempt in (0, 1):
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            break
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if attempt:
                raise
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    if raw:
        return r.status, data
    try:
        return r.status, json.loads(data) if data else None
    except ValueError:
        return r.status, data

def check(ok, what, detail=None):
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    if not ok and detail is not None:
        print("#   " + str(detail)[:600], flush=True)
    return ok

def is_error(body, code):
    return (isinstance(body, dict) and body.get("code") == code and
            isinstance(body.get("title"), str) and isinstance(body.get("message"), str))

def page_all(query, limit):
    """Follow next links; returns (ids in order, images, pages, error)."""
    path = "/v2/images?" + urllib.parse.urlencode(query + [("limit", str(limit))])
    images, pages = [], 0
    while path:
        st, body = req("GET", path)
        if st != 200:
            return images, pages, "GET %s -> %s %s" % (path, st, body)
        pages += 1
        if len(body["images"]) > limit:
            return images, pages, "page of %d > limit %d" % (len(body["images"]), limit)
        images += body["images"]
        path = body.get("next")
        if pages > N + 10:
            return images, pages, "too many pages"
    return images, pages, None

# ---- create ---------------------------------------------------------------
t0 = time.time()
created = []      # (index, id, name) in creation order
failures = 0
for i in range(N):
    img = {"name": "img-%04d" % (i % 1000), "disk_format": "raw", "container_format": "bare",
           "os_distro": "debian" if i % 2 == 0 else "ubuntu",
           "tags": ["all", "g%d" % (i % 10)] + (["special"] if i % 100 == 0 else []),
           "seq": str(i)}
    if i % 50 == 0:
        img["visibility"] = "public"
    st, body = req("POST", "/v2/images", img)
    if st != 201:
        failures += 1
        if failures < 5:
            print("#   create %d: %s %s" % (i, st, body))
        continue
    created.append((i, body["id"], img["name"]))
check(failures == 0 and len(created) == N, "created %d images (%.1fs)" % (N, time.time() - t0))
by_id = {iid: (i, name) for i, iid, name in created}

# data for a few, so that status and size filters have something to find
sizes = [10, 100, 1000, 10000, 100000]
active = []
for k, size in enumerate(sizes):
    iid = created[k * 7 + 3][1]
    st, _ = req("PUT", "/v2/images/%s/file" % iid, body=b"x" * size,
                ctype="application/octet-stream")
    active.append(iid)
    if st != 204:
        check(False, "upload %d bytes" % size, st)
check(True, "uploaded data to %d images" % len(sizes))

# ---- paging ---------------------------------------------------------------
t0 = time.time()
images, pages, err = page_all([], 100)
ids = [im["id"] for im in images]
check(err is None, "paged through all images with limit=100 (%d pages, %.1fs)" % (pages, time.time() - t0), err)
check(len(ids) == N, "the pages hold %d images" % N, len(ids))
check(len(set(ids)) == len(ids), "every id is seen once", len(ids) - len(set(ids)))
check(set(ids) == set(by_id), "every created id is seen")
check(pages == (N + 99) // 100, "%d pages of 100" % ((N + 99) // 100), pages)
order = [by_id[i][0] for i in ids if i in by_id]
check(order == sorted(order, reverse=True), "default order is newest first (created_at desc)")

st, body = req("GET", "/v2/images")
check(st == 200 and len(body["images"]) == 25 and "next" in body,
      "without limit a page has 25 images and a next link", (st, len(body["images"]) if st == 200 else body))
check(st == 200 and body["next"].startswith("/v2/images?") and "marker=" + body["images"][-1]["id"] in body["next"],
      "the next link's marker is the last image of the page", body.get("next") if st == 200 else None)

st, body = req("GET", "/v2/images?limit=%d" % N)
check(st == 200 and len(body["images"]) == 1000 and "next" in body, "limit above 1000 is capped at 1000",
      (st, len(body["images"]) if st == 200 else body))
st, body = req("GET", "/v2/images?limit=5000")
check(st == 200 and len(body["images"]) == 1000, "limit=5000 gives 1000", st)
st, body = req("GET", "/v2/images?limit=1")
check(st == 200 and len(body["images"]) == 1 and "next" in body, "limit=1 gives one and a next link", st)
last = ids[-1]
st, body = req("GET", "/v2/images?marker=%s" % last)
check(st == 200 and body["images"] == [] and "next" not in body,
      "after the last image: an empty page without next", (st, body))
images2, _, err = page_all([], 1000)
check(err is None and [im["id"] for im in images2] == ids, "pages of 1000 give the same order as pages of 100", err)

# ---- filters ----------------------------------------------------------------
def filtered(query, limit=200):
    images, _, err = page_all(query, limit)
    return images, err

def check_filter(query, want_ids, what):
    images, err = filtered(query)
    got = [im["id"] for im in images]
    check(err is None and sorted(got) == sorted(want_ids) and len(got) == len(set(got)),
          "%s: %d images" % (what, len(want_ids)), err or "got %d" % len(got))
    return images

check_filter([("name", "img-0007")], [iid for i, iid, n in created if n == "img-0007"], "name=img-0007")
check_filter([("name", "img-0999")], [iid for i, iid, n in created if n == "img-0999"], "name=img-0999")
check_filter([("name", "no-such-name")], [], "name=no-such-name")
deb = check_filter([("os_distro", "debian")], [iid for i, iid, n in created if i % 2 == 0], "os_distro=debian (paged)")
check(all(im["os_distro"] == "debian" for im in deb), "os_distro=debian returns only debian images")
check_filter([("os_distro", "ubuntu")], [iid for i, iid, n in created if i % 2 == 1], "os_distro=ubuntu")
check_filter([("os_distro", "debian"), ("name", "img-0010")],
             [iid for i, iid, n in created if i % 2 == 0 and n == "img-0010"], "os_distro=debian&name=img-0010")
check_filter([("seq", "1234")], [created[1234][1]] if N > 1234 else [], "seq=1234 (another property)")
check_filter([("tag", "special")], [iid for i, iid, n in created if i % 100 == 0], "tag=special")
check_filter([("tag", "g3")], [iid for i, iid, n in created if i % 10 == 3], "tag=g3")
check_filter([("tag", "g0"), ("tag", "special")], [iid for i, iid, n in created if i % 100 == 0], "tag=g0&tag=special (all tags)")
check_filter([("tag", "g3"), ("tag", "special")], [], "tag=g3&tag=special (none has both)")
check_filter([("tag", "nope")], [], "tag=nope")
check_filter([("status", "active")], active, "status=active")
check_filter([("status", "queued")], [iid for i, iid, n in created if iid not in active], "status=queued")
check_filter([("visibility", "public")], [iid for i, iid, n in created if i % 50 == 0], "visibility=public")
check_filter([("visibility", "shared")], [iid for i, iid, n in created if i % 50 != 0], "visibility=shared")
check_filter([("visibility", "private")], [], "visibility=private")
check_filter([("size_min", "1000")], active[2:], "size_min=1000")
check_filter([("size_max", "100")], active[:2], "size_max=100")
check_filter([("size_min", "100"), ("size_max", "10000")], active[1:4], "size_min=100&size_max=10000")
st, body = req("GET", "/v2/images?status=bogus")
check(st == 400 and is_error(body, 400), "status=bogus is 400", (st, body))
st, body = req("GET", "/v2/images?visibility=bogus")
check(st == 400 and is_error(body, 400), "visibility=bogus is 400", (st, body))
st, body = req("GET", "/v2/images?size_min=big")
check(st == 400 and is_error(body, 400), "size_min=big is 400", (st, body))

# ---- sorting ----------------------------------------------------------------
images, _, err = page_all([("sort_key", "name"), ("sort_dir", "asc")], 500)
names = [im["name"] for im in images]
check(err is None and len(images) == N, "sort_key=name&sort_dir=asc pages through all %d" % N, err or len(images))
check(names == sorted(names), "sort_key=name&sort_dir=asc: names ascending across pages")
check(names[0] == "img-0000" and names[-1] == "img-0999", "sort by name: first img-0000, last img-0999",
      (names[:1], names[-1:]))
images, _, err = page_all([("sort_key", "name"), ("sort_dir", "desc")], 300)
names = [im["name"] for im in images]
check(err is None and names == sorted(names, reverse=True) and len(names) == N,
      "sort_key=name&sort_dir=desc: names descending across pages", err)

images, _, err = page_all([("sort", "name:asc,created_at:desc")], 250)
got = [im["id"] for im in images]
want = [iid for i, iid, n in sorted(created, key=lambda c: (c[2], -c[0]))]
check(err is None and got == want, "sort=name:asc,created_at:desc: exact order across pages",
      err or next(((k, got[k:k+1], want[k:k+1]) for k in range(min(len(got), len(want))) if got[k] != want[k]), len(got)))
images, _, err = page_all([("sort", "name:desc,created_at:asc")], 250)
got = [im["id"] for im in images]
want = [iid for i, iid, n in sorted(created, key=lambda c: (c[2], -c[0]), reverse=True)]
check(err is None and got == want, "sort=name:desc,created_at:asc: exact order across pages", err)
images, _, err = page_all([("sort_key", "name"), ("sort_key", "created_at"), ("sort_dir", "asc"), ("sort_dir", "desc")], 300)
got = [im["id"] for im in images]
want = [iid for i, iid, n in sorted(created, key=lambda c: (c[2], -c[0]))]
check(err is None and got == want, "sort_key=name&sort_key=created_at&sort_dir=asc&sort_dir=desc: same order", err)
images, _, err = page_all([("sort_key", "size"), ("sort_dir", "desc"), ("status", "active")], 2)
check(err is None and [im["size"] for im in images] == sorted(sizes, reverse=True),
      "sort_key=size desc with status=active, pages of 2", err or [im["size"] for im in images])
st, body = req("GET", "/v2/images?sort=created_at")
check(st == 200 and body["images"][0]["id"] == created[-1][1], "sort=created_at (no direction) is desc", st)

st, body = req("GET", "/v2/images?sort_key=bogus")
check(st == 400 and is_error(body, 400), "unknown sort_key is 400", (st, body))
st, body = req("GET", "/v2/images?sort=bogus:asc")
check(st == 400 and is_error(body, 400), "unknown key in sort= is 400", (st, body))
st, body = req("GET", "/v2/images?sort=name:sideways")
check(st == 400 and is_error(body, 400), "bad direction in sort= is 400", (st, body))
st, body = req("GET", "/v2/images?sort_key=name&sort_dir=up")
check(st == 400 and is_error(body, 400), "sort_dir=up is 400", (st, body))
st, body = req("GET", "/v2/images?sort=name:asc&sort_key=name")
check(st == 400 and is_error(body, 400), "sort= together with sort_key is 400", (st, body))

# ---- bad limits and markers -------------------------------------------------
for q, what in (("limit=abc", "limit=abc"), ("limit=-1", "limit=-1"), ("limit=1.5", "limit=1.5"),
                ("limit=", "empty limit"), ("limit=99999999999999999999999", "limit overflowing int64")):
    st, body = req("GET", "/v2/images?" + q)
    check(st == 400 and is_error(body, 400), "%s is 400" % what, (st, body))
st, body = req("GET", "/v2/images?marker=%s" % uuid.uuid4())
check(st == 400 and is_error(body, 400), "marker not found is 400", (st, body))
st, body = req("GET", "/v2/images?marker=not-a-uuid")
check(st == 400 and is_error(body, 400), "marker that is not a UUID is 400", (st, body))
# a deleted marker: Glance answers 400 too
st, _ = req("DELETE", "/v2/images/%s" % created[0][1])
st, body = req("GET", "/v2/images?marker=%s" % created[0][1])
check(st == 400 and is_error(body, 400), "marker of a deleted image is 400", (st, body))
PY
	)
}

start=$(date +%s)
run_py
echo "# t0040 client part took $(( $(date +%s) - start ))s"
check "raind is still healthy" raind_healthy
raind_stop
test_done
