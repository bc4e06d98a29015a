#!/usr/bin/env python3
# Drive a headless Chromium over the DevTools protocol for t0197-web-catalog.sh.
#
#   webdriver.py URL USER PASSWORD IMAGE_QUERY OUTDIR [RUN_ID RELEASE_FILE]
#
# Logs in through the form, searches, opens the first image found, reads
# its vetting report, opens an admin page, follows the log of run RUN_ID
# (one still running, which ends when RELEASE_FILE exists: made here once
# the page follows the log) as it grows, and logs out, taking a
# screenshot of each page into OUTDIR. Prints one "key value" line per
# fact it saw (the test script judges them) and "error ..." lines for
# anything the browser itself reported (script errors, Content-Security-
# Policy violations, dialogs such as an alert() that should never run).
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import websocket

url, user, password, query, outdir = sys.argv[1:6]
run_id = sys.argv[6] if len(sys.argv) > 6 else ""
release = sys.argv[7] if len(sys.argv) > 7 else ""
os.makedirs(outdir, exist_ok=True)
profile = tempfile.mkdtemp(prefix="rain-chromium-")
browser = subprocess.Popen(
    ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
     "--disable-extensions", "--disable-background-networking", "--remote-debugging-port=0",
     "--remote-allow-origins=*", "--window-size=1280,900", "--user-data-dir=" + profile,
     "about:blank"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def fail(msg):
    print("error " + msg)
    browser.kill()
    sys.exit(1)


port_file = os.path.join(profile, "DevToolsActivePort")
for _ in range(600):
    if os.path.exists(port_file) and open(port_file).read().count("\n") >= 1:
        break
    if browser.poll() is not None:
        fail("chromium exited with %s before it listened" % browser.returncode)
    time.sleep(0.1)
else:
    fail("chromium did not open its DevTools port within 60 s")
port = open(port_file).read().split("\n")[0].strip()

# the page target: ask the browser for the list over HTTP
for _ in range(100):
    try:
        targets = json.load(urllib.request.urlopen("http://127.0.0.1:%s/json/list" % port))
        pages = [t for t in targets if t.get("type") == "page"]
        if pages:
            break
    except OSError:
        pass
    time.sleep(0.1)
else:
    fail("no page target")
ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=120)
next_id = [0]
events = []


def send(method, **params):
    next_id[0] += 1
    mid = next_id[0]
    ws.send(json.dumps({"id": mid, "method": method, "params": params}))
    while True:
        msg = json.loads(ws.recv())
        if msg.get("id") == mid:
            if "error" in msg:
                fail("%s: %s" % (method, msg["error"]))
            return msg.get("result", {})
        events.append(msg)


def drain_events():
    """Report what the browser complained about since the last call."""
    for ev in events:
        m, p = ev.get("method"), ev.get("params", {})
        if m == "Runtime.exceptionThrown":
            print("error script: %s" % p["exceptionDetails"].get("text"))
        elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
            text = p["entry"].get("text", "")
            # the 403 and 401 pages are errors to the network log, not to us
            if "status of 40" not in text:
                print("error console: %s" % text)
        elif m == "Runtime.consoleAPICalled" and p.get("type") == "error":
            print("error console: %s" % p.get("args"))
        elif m == "Page.javascriptDialogOpening":
            print("error dialog: %s" % p.get("message"))
            send("Page.handleJavaScriptDialog", accept=True)
    events.clear()


def wait_load(timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        ready = send("Runtime.evaluate", expression="document.readyState", returnByValue=True)
        if ready["result"].get("value") == "complete":
            return
        time.sleep(0.1)
    fail("the page did not load within %d s" % timeout)


def js(expr):
    r = send("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
    if "exceptionDetails" in r:
        fail("evaluating %s: %s" % (expr, r["exceptionDetails"].get("text")))
    return r["result"].get("value")


def go(path):
    send("Page.navigate", url=url + path)
    time.sleep(0.2)
    wait_load()


def shot(name):
    data = send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
    with open(os.path.join(outdir, name + ".png"), "wb") as f:
        f.write(base64.b64decode(data))
    print("screenshot %s" % name)


def click_and_wait(selector):
    before = js("location.href")
    js("document.querySelector(%s).click()" % json.dumps(selector))
    end = time.time() + 60
    while time.time() < end and js("location.href") == before:
        time.sleep(0.1)
    time.sleep(0.2)
    wait_load()


send("Page.enable")
send("Runtime.enable")
send("Log.enable")

# log in through the form, as a person would
go("/ui/images")
print("login_redirect %s" % js("location.pathname"))
shot("01-login")
js("document.querySelector('input[name=user]').value = %s" % json.dumps(user))
js("document.querySelector('input[name=password]').value = %s" % json.dumps(password))
click_and_wait("form.login button[type=submit]")
print("after_login %s" % js("location.pathname"))
print("who %s" % js("document.querySelector('.who') && document.querySelector('.who').textContent"))
print("cookie_visible %s" % json.dumps(js("document.cookie")))
# the style sheet applies (style-src 'self' lets it in)
print("header_bg %s" % js("getComputedStyle(document.querySelector('header')).backgroundColor"))
shot("02-images")

# a running job's log, followed by the page's script until the job ends
if run_id:
    go("/ui/runs/" + run_id)
    print("live_follow %s" % js("!!document.querySelector('pre[data-follow]')"))
    # the page is following: let the run write its last line and end
    time.sleep(1)
    if release:
        open(release, "w").close()
    end = time.time() + 90
    while time.time() < end and "run-end" not in (js("document.querySelector('#log').textContent") or ""):
        time.sleep(0.5)
    print("live_end %s" % ("yes" if "run-end" in js("document.querySelector('#log').textContent") else "no"))
    time.sleep(1)
    print("live_state %s" % js("document.querySelector('.logstate').textContent"))
    shot("02b-run-live")
    go("/ui/images")

# search through the form
js("document.querySelector('input[name=q]').value = %s" % json.dumps(query))
click_and_wait("form.search button[type=submit]")
print("search_url %s" % js("location.search"))
print("search_rows %s" % js("document.querySelectorAll('#images tbody tr').length"))
print("search_names %s" % json.dumps(js(
    "[...document.querySelectorAll('#images tbody tr td:first-child')].map(e => e.textContent)")))
shot("03-search")

# open the first image found and read its vetting report
click_and_wait("#images tbody tr td:first-child a")
print("image_path %s" % js("location.pathname"))
print("image_name %s" % json.dumps(js("document.querySelector('h2.name').textContent")))
print("verdict %s" % js("document.querySelector('#vetting .verdict') && "
                        "document.querySelector('#vetting .verdict').textContent"))
print("failing %s" % json.dumps(js(
    "[...document.querySelectorAll('#vetting ul.failing li strong')].map(e => e.textContent)")))
print("recipe_present %s" % js("!!document.querySelector('#recipe')"))
shot("04-image")

# the image whose name is markup: shown as text, no element made of it
go("/ui/images?q=" + urllib.parse.quote("<script>"))
print("script_rows %s" % js("document.querySelectorAll('#images tbody tr').length"))
print("script_text %s" % json.dumps(js(
    "document.querySelector('#images tbody tr td:first-child') && "
    "document.querySelector('#images tbody tr td:first-child').textContent")))
print("script_elements %s" % js("document.querySelectorAll('main script').length"))
shot("05-markup-name")

# an admin page
go("/ui/users")
print("users_h1 %s" % js("document.querySelector('h1').textContent"))
shot("06-users")

# a job's page and its log
go("/ui/jobs")
jobs = js("document.querySelectorAll('table.list tbody tr').length")
print("jobs_rows %s" % jobs)
if jobs:
    click_and_wait("table.list tbody tr a")
    print("job_log %s" % json.dumps(js("(document.querySelector('#log') || {}).textContent || ''")[:200]))
    shot("07-job")
    # rain.js's follower against the real log endpoint (the job has ended,
    # so the stream ends): it must append what the page shows, as text
    print("follow_same %s" % json.dumps(js("""(async () => {
        const pre = document.createElement('pre');
        pre.dataset.follow = location.pathname + '/log';
        pre.dataset.offset = '0';
        document.body.append(pre);
        await follow(pre);
        return pre.textContent === document.querySelector('#log').textContent &&
               pre.textContent.length > 0 && pre.children.length === 0;
    })()""")))

# log out
go("/ui/images")
click_and_wait("form.logout button[type=submit]")
print("after_logout %s" % js("location.pathname"))
go("/ui/images")
print("after_logout_images %s" % js("location.pathname"))
drain_events()
ws.close()
browser.terminate()
try:
    browser.wait(20)
except subprocess.TimeoutExpired:
    browser.kill()
print("done")
